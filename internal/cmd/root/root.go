// Package root assembles the resimatectl command tree and runs it.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/docs"
	"github.com/resimate/resimatectl/internal/cmd/lifecycle"
	"github.com/resimate/resimatectl/internal/cmd/migrate"
	preflightcmd "github.com/resimate/resimatectl/internal/cmd/preflight"
	rendercmd "github.com/resimate/resimatectl/internal/cmd/render"
	"github.com/resimate/resimatectl/internal/cmd/version"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/logging"
)

// globalOptions are the flags every command has.
type globalOptions struct {
	configPath string
	logFormat  string
	logLevel   string
	noColor    bool
}

// NewCmd builds the whole command tree around f.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:   "resimatectl",
		Short: "Install and operate the Resimate platform on any Kubernetes cluster",
		Long: `resimatectl installs the Resimate platform on a Kubernetes cluster in AWS, Azure, GCP or
on-premise, migrates Firebase projects into it, and runs its day-2 operations:
preflight checks, upgrades and rollbacks, backups and restores, and status.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.setUp(cmd, f)
		},
	}
	cmd.SetIn(f.IOStreams.In)
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	// A mistyped flag is a usage error (exit 2) with a pointer to help, not a usage dump.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cmdutil.FlagErrorf("%v (see '%s --help')", err, c.CommandPath())
	})

	pf := cmd.PersistentFlags()
	f.KubeFlags.AddFlags(pf)
	pf.StringVar(&g.configPath, "config", "", configFlagHelp)
	pf.StringVar(&g.logFormat, "log-format", "text", "Log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "warn", "Log level: debug, info, warn or error")
	pf.BoolVar(&g.noColor, "no-color", false, "Disable colour in output (also NO_COLOR)")

	cmd.AddCommand(version.NewCmd(f, nil))
	cmd.AddCommand(rendercmd.NewCmd(f, nil))
	cmd.AddCommand(preflightcmd.NewCmd(f, nil))
	cmd.AddCommand(lifecycle.NewInstallCmd(f, nil), lifecycle.NewStatusCmd(f, nil), lifecycle.NewUpgradeCmd(f),
		lifecycle.NewRollbackCmd(f), lifecycle.NewUninstallCmd(f))
	cmd.AddCommand(migrate.NewCmd(f))
	cmd.AddCommand(docs.NewCmd(f))
	// Cobra adds these when it executes; adding them now keeps the generated reference complete.
	cmd.InitDefaultHelpCmd()
	cmd.InitDefaultCompletionCmd()
	return cmd
}

// setUp runs before every command: config file and environment fill unset flags, then the
// logger and colour are fixed.
func (g *globalOptions) setUp(cmd *cobra.Command, f *cmdutil.Factory) error {
	if err := applyConfig(cmd, g.configPath); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	logger, err := logging.New(f.IOStreams.ErrOut, f.Redactor, logging.Options{Format: g.logFormat, Level: g.logLevel})
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	f.Logger = logger
	if g.noColor {
		f.IOStreams.SetColorEnabled(false)
	}
	return nil
}

// Main runs the CLI with the process's streams and arguments and returns the exit code.
func Main() int {
	streams := iostreams.System()
	f := cmdutil.NewFactory(streams)
	streams.WrapOutput(f.Redactor.Writer)
	return Execute(context.Background(), f, os.Args[1:])
}

// Execute runs args against a fresh command tree and prints a failing error as one line.
func Execute(ctx context.Context, f *cmdutil.Factory, args []string) int {
	cmd := NewCmd(f)
	cmd.SetArgs(args)
	return PrintError(f, cmd.ExecuteContext(ctx))
}

// PrintError reports err (redacted, on one line) unless the command already did, and returns
// the exit code.
func PrintError(f *cmdutil.Factory, err error) int {
	if err == nil {
		return cmdutil.ExitOK
	}
	var silent *cmdutil.SilentError
	if !errors.As(err, &silent) {
		msg := f.Redactor.String(err.Error())
		// Cobra reports unknown commands and bad args without a hint; add one.
		if strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "accepts ") {
			err = &cmdutil.FlagError{Err: err}
			msg += " (see 'resimatectl --help')"
		}
		fmt.Fprintf(f.IOStreams.ErrOut, "Error: %s\n", oneLine(msg))
	}
	return cmdutil.ExitCode(err)
}

// oneLine folds a multi-line error (some libraries wrap with newlines) into a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
