// Package docs implements the hidden `resimatectl docs` command that writes the CLI reference.
package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/resimate/resimatectl/internal/cmdutil"
)

// Options are the inputs of the docs command.
type Options struct {
	Dir string
}

// NewCmd returns the hidden docs command.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:    "docs",
		Short:  "Write the CLI reference (markdown and man pages)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := Generate(cmd.Root(), opts.Dir); err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.Out, "wrote the CLI reference to %s\n", opts.Dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "docs/cli", "Folder to write into (markdown at the top, man pages under man/)")
	return cmd
}

// manDate is fixed so that the committed reference does not change with the day it was made.
var manDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate writes markdown into dir and man pages into dir/man, replacing what was there.
func Generate(root *cobra.Command, dir string) error {
	root.DisableAutoGenTag = true
	neutralDefaults(root)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	man := filepath.Join(dir, "man")
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("writing markdown reference: %w", err)
	}
	header := &doc.GenManHeader{Title: strings.ToUpper(root.Name()), Section: "1", Date: &manDate, Source: "Resimate"}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("writing man pages: %w", err)
	}
	return nil
}

// neutralDefaults replaces defaults that hold this machine's home folder (kubectl's cache dir)
// with $HOME, so the reference is the same wherever it is generated.
func neutralDefaults(root *cobra.Command) {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return
	}
	fix := func(fl *pflag.Flag) {
		if strings.Contains(fl.DefValue, home) {
			fl.DefValue = strings.ReplaceAll(fl.DefValue, home, "$HOME")
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.PersistentFlags().VisitAll(fix)
		c.Flags().VisitAll(fix)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
