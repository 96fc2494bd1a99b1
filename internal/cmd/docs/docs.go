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
	"github.com/resimate/resimatectl/internal/iostreams"
)

// Options are the inputs of the docs command.
type Options struct {
	IO   *iostreams.IOStreams
	Root *cobra.Command
	Dir  string
}

// NewCmdDocs returns the hidden docs command; runF replaces the run function in tests.
func NewCmdDocs(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:    "docs",
		Short:  "Write the CLI reference (markdown and man pages)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Root = cmd.Root()
			if runF != nil {
				return runF(opts)
			}
			if err := Generate(opts.Root, opts.Dir); err != nil {
				return err
			}
			fmt.Fprintf(opts.IO.Out, "wrote the CLI reference to %s\n", opts.Dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "docs/cli", "Folder to write into (markdown at the top, man pages under man/)")
	return cmd
}

// manDate is fixed so that the committed reference does not change with the day it was made.
var manDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate writes markdown into dir and man pages into dir/man. Of what was there, it removes
// only earlier generated pages (resimatectl*.md, man/resimatectl*.1) that no command has any
// more: other files in dir are not its to delete.
func Generate(root *cobra.Command, dir string) error {
	root.DisableAutoGenTag = true
	neutralDefaults(root)
	man := filepath.Join(dir, "man")
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	stale := map[string]bool{}
	for _, pattern := range []string{filepath.Join(dir, root.Name()+"*.md"), filepath.Join(man, root.Name()+"*.1")} {
		old, err := filepath.Glob(pattern)
		if err != nil {
			return err
		}
		for _, p := range old {
			stale[p] = true
		}
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("writing markdown reference: %w", err)
	}
	header := &doc.GenManHeader{Title: strings.ToUpper(root.Name()), Section: "1", Date: &manDate, Source: "Resimate"}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("writing man pages: %w", err)
	}
	for _, c := range allCommands(root) {
		base := strings.ReplaceAll(c.CommandPath(), " ", "_")
		delete(stale, filepath.Join(dir, base+".md"))
		delete(stale, filepath.Join(man, strings.ReplaceAll(c.CommandPath(), " ", "-")+".1"))
	}
	for p := range stale {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// allCommands lists the commands the generators write a page for.
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() {
			out = append(out, allCommands(sub)...)
		}
	}
	return out
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
