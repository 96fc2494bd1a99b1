// Package root assembles the resimatectl command tree and runs it.
package root

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	accesscmd "github.com/resimate/resimatectl/internal/cmd/access"
	backupcmd "github.com/resimate/resimatectl/internal/cmd/backup"
	"github.com/resimate/resimatectl/internal/cmd/docs"
	imagescmd "github.com/resimate/resimatectl/internal/cmd/images"
	installcmd "github.com/resimate/resimatectl/internal/cmd/install"
	"github.com/resimate/resimatectl/internal/cmd/migrate"
	preflightcmd "github.com/resimate/resimatectl/internal/cmd/preflight"
	rendercmd "github.com/resimate/resimatectl/internal/cmd/render"
	"github.com/resimate/resimatectl/internal/cmd/rollback"
	"github.com/resimate/resimatectl/internal/cmd/status"
	"github.com/resimate/resimatectl/internal/cmd/uninstall"
	"github.com/resimate/resimatectl/internal/cmd/upgrade"
	vaultcmd "github.com/resimate/resimatectl/internal/cmd/vault"
	"github.com/resimate/resimatectl/internal/cmd/version"
	wizardcmd "github.com/resimate/resimatectl/internal/cmd/wizard"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/errtext"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/logging"
)

// globalOptions are the flags every command has, and the end of the running command's log.
type globalOptions struct {
	configPath string
	logFormat  string
	logLevel   string
	noColor    bool
	// finish logs the command's end with its duration (set once the logger exists).
	finish func(error)
}

// NewCmd builds the whole command tree around f.
func NewCmd(f *cmdutil.Factory) *cobra.Command { return newCmd(f, &globalOptions{}) }

func newCmd(f *cmdutil.Factory, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resimatectl",
		Short: "Install and operate the Resimate platform on any Kubernetes cluster",
		Long: `resimatectl installs the Resimate platform on a Kubernetes cluster in AWS, Azure, GCP or
on-premise, migrates Firebase projects into it, and runs it from then on: preflight checks,
install, status, upgrades, rollbacks and uninstall.

Exit status: 0 success, 1 failure, 2 usage error, 130 or 143 when interrupted (SIGINT, SIGTERM).`,
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

	cmd.AddCommand(accesscmd.NewCmdAccess(f), backupcmd.NewCmdBackup(f), wizardcmd.NewCmdWizard(f, nil), vaultcmd.NewCmdVault(f), version.NewCmdVersion(f, nil), rendercmd.NewCmdRender(f, nil), imagescmd.NewCmdImages(f, nil), preflightcmd.NewCmdPreflight(f, nil),
		installcmd.NewCmdInstall(f, nil), status.NewCmdStatus(f, nil), upgrade.NewCmdUpgrade(f, nil),
		rollback.NewCmdRollback(f, nil), uninstall.NewCmdUninstall(f, nil), migrate.NewCmdMigrate(f), docs.NewCmdDocs(f, nil))
	// Cobra adds these when it executes; adding them now keeps the generated reference complete.
	cmd.InitDefaultHelpCmd()
	cmd.InitDefaultCompletionCmd()
	refuseUnknownShells(cmd)
	return cmd
}

// refuseUnknownShells makes `completion tcsh` a usage error instead of a help page and exit 0.
func refuseUnknownShells(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		var shells []string
		for _, sub := range c.Commands() {
			shells = append(shells, sub.Name())
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return cmdutil.FlagErrorf("unknown shell %q: use %s", args[0], strings.Join(shells, ", "))
		}
	}
}

// setUp runs before every command: config file and environment fill unset flags, then the
// logger and colour are fixed.
func (g *globalOptions) setUp(cmd *cobra.Command, f *cmdutil.Factory) error {
	warnSecretsOnCommandLine(cmd, f.IOStreams.ErrOut)
	if err := applyConfig(cmd, g.configPath, f.IOStreams.ErrOut); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	logger, err := logging.New(f.IOStreams.ErrOut, f.Redactor, logging.Options{Format: g.logFormat, Level: g.logLevel})
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	logging.CaptureLibraries(logger)
	f.Logger, g.finish = logging.Operation(cmd.Context(), logger, operationName(cmd))
	if g.noColor {
		f.IOStreams.SetColorEnabled(false)
	}
	return nil
}

// operationName is the command path without the tool's name: "migrate firebase auth".
func operationName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// warnSecretsOnCommandLine warns once per secret flag given on the command line, where ps and
// the shell's history keep it (a URL only when it carries a password).
func warnSecretsOnCommandLine(cmd *cobra.Command, w io.Writer) {
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if !cmdutil.HasAnnotation(fl, cmdutil.AnnotationSecret) {
			return
		}
		if u, err := url.Parse(fl.Value.String()); err == nil && u.Scheme != "" && u.Host != "" {
			if _, hasPassword := u.User.Password(); !hasPassword {
				return
			}
		}
		fmt.Fprintf(w, "warning: --%s on the command line is kept by ps and the shell's history: use %s instead\n", fl.Name, envName(fl.Name))
	})
}

// Main runs the CLI with the process's streams and arguments and returns the exit code.
// SIGINT and SIGTERM cancel the command's context.
func Main() int {
	streams := iostreams.System()
	f := cmdutil.NewFactory(streams)
	streams.WrapOutput(f.Redactor.Writer)
	ctx, stop := cmdutil.SignalContext(context.Background())
	defer stop()
	return Execute(ctx, f, os.Args[1:])
}

// Execute runs args against a fresh command tree and prints a failing error as one line. A
// command that ends because ctx was interrupted exits with the signal's status, whatever error
// the interruption surfaced as.
func Execute(ctx context.Context, f *cmdutil.Factory, args []string) int {
	g := &globalOptions{}
	cmd := newCmd(f, g)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if ie := cmdutil.Interrupted(ctx); ie != nil && err != nil {
		err = fmt.Errorf("%w: %w", ie, err)
	}
	if g.finish != nil {
		g.finish(err)
	}
	return PrintError(f, err)
}

// PrintError reports err (redacted, on one line) unless the command already did, and returns
// the exit code.
func PrintError(f *cmdutil.Factory, err error) int {
	if err == nil {
		return cmdutil.ExitOK
	}
	var interrupted *cmdutil.InterruptError
	if errors.As(err, &interrupted) {
		fmt.Fprintf(f.IOStreams.ErrOut, "Error: %s\n", errtext.OneLine(f.Redactor.String(interruptMessage(err, interrupted))))
		return interrupted.Code()
	}
	var silent *cmdutil.SilentError
	if !errors.As(err, &silent) {
		msg := f.Redactor.String(err.Error())
		// Cobra reports unknown commands and bad args without a hint; add one.
		if strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "accepts ") {
			err = &cmdutil.FlagError{Err: err}
			msg += " (see 'resimatectl --help')"
		}
		fmt.Fprint(f.IOStreams.ErrOut, "Error: "+errorLines(err, msg, f.Redactor.String))
	}
	return cmdutil.ExitCode(err)
}

// errorLines is an error's message on one line; several problems joined into one error with
// errors.Join (a mapping file's, say) get a line each under the one-line summary. An error that
// merely wraps two causes (fmt.Errorf with two %w) stays one line.
func errorLines(err error, msg string, redact func(string) string) string {
	var joined interface {
		error
		Unwrap() []error
	}
	if !errors.As(err, &joined) || len(joined.Unwrap()) < 2 || joined.Error() != errors.Join(joined.Unwrap()...).Error() {
		return errtext.OneLine(msg) + "\n"
	}
	problems := joined.Unwrap()
	prefix := strings.TrimSuffix(msg, redact(joined.Error()))
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d problems:\n", errtext.OneLine(prefix)+" ", len(problems))
	for _, p := range problems {
		fmt.Fprintf(&b, "  - %s\n", errtext.OneLine(redact(p.Error())))
	}
	return b.String()
}

// interruptMessage says what was interrupted, without the "context canceled" noise the
// interruption surfaces as.
func interruptMessage(err error, ie *cmdutil.InterruptError) string {
	msg := strings.TrimPrefix(err.Error(), ie.Error()+": ")
	if errors.Is(err, context.Canceled) || strings.Contains(msg, ie.Error()) || msg == "" {
		return ie.Error() + ": stopped cleanly; run the command again to go on"
	}
	return ie.Error() + ": " + msg
}
