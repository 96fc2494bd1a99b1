// Package version implements `resimatectl version`.
package version

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/buildinfo"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// Options are the inputs of the version command.
type Options struct {
	IO     *iostreams.IOStreams
	Output string
}

// NewCmdVersion returns the version command; runF replaces the run function in tests.
func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of resimatectl",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(opts)
			}
			return runVersion(opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

// runVersion prints the build facts.
func runVersion(opts *Options) error {
	info := buildinfo.Get()
	return output.Print(opts.IO.Out, opts.Output, info, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Version:\t%s\nCommit:\t%s\nBuilt:\t%s\nGo:\t%s\nPlatform:\t%s\n",
			info.Version, info.Commit, info.BuildDate, info.GoVersion, info.Platform)
		return err
	})
}
