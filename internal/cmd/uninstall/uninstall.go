// Package uninstall implements `resimatectl uninstall`.
package uninstall

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/install"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/ui"
)

// Options are the inputs of uninstall.
type Options struct {
	IO        *iostreams.IOStreams
	Env       *install.Env
	Namespace string
	Release   string
	Timeout   time.Duration
	Purge     bool
	// DropDatabases drops an external PostgreSQL's roles and databases through PostgresURL.
	DropDatabases bool
	PostgresURL   string
	Yes           bool
	ForceUnlock   bool
	Output        string
}

// NewCmdUninstall returns `resimatectl uninstall`; runF replaces the run function in tests.
func NewCmdUninstall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the platform (volumes, databases and secrets stay unless --purge)",
		Long: `Remove the platform's release. Its volumes, generated secrets and install record stay, so a
later install finds its data again, unless --purge, which deletes them for good. On a terminal
it asks first (--purge: type the release's name); --yes skips the question, and is required
for --purge when no terminal can answer.`,
		Example: `  resimatectl uninstall -n resimate
  resimatectl uninstall -n resimate --purge --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			ns, err := shared.CompleteRelease(f, opts.Release)
			if err != nil {
				return err
			}
			if opts.DropDatabases && (!opts.Purge || opts.PostgresURL == "") {
				return cmdutil.FlagErrorf("--drop-databases needs --purge and the admin URL of the external PostgreSQL (--postgres-url, or RESIMATE_POSTGRES_URL)")
			}
			if opts.PostgresURL != "" {
				f.Redactor.RegisterURLPassword(opts.PostgresURL)
			}
			opts.Namespace, opts.Env = ns, shared.InstallEnv(f, ui.InstallEvents(f.IOStreams.ErrOut, output.Table))
			if err := confirm(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUninstall(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	shared.AddReleaseFlag(cmd, &opts.Release)
	cmdutil.PositiveDurationVar(cmd, &opts.Timeout, "timeout", 5*time.Minute, "How long to wait for the objects to be gone")
	fl.BoolVar(&opts.Purge, "purge", false, "Also delete volumes, generated secrets and the install record")
	fl.BoolVar(&opts.DropDatabases, "drop-databases", false, "With --purge, also drop the roles and databases install made on an external PostgreSQL")
	fl.StringVar(&opts.PostgresURL, "postgres-url", "", "Admin URL of the external PostgreSQL, for --drop-databases; give it as RESIMATE_POSTGRES_URL, not on the command line")
	cmdutil.MarkSecret(cmd, "postgres-url")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "Do not ask for confirmation")
	fl.BoolVar(&opts.ForceUnlock, "force-unlock", false, "Break the namespace's install lock even if it looks alive")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	cmdutil.MarkCommandLineOnly(cmd, "purge", "drop-databases", "yes", "force-unlock")
	return cmd
}

// confirm asks on a terminal unless --yes; --purge without a terminal needs --yes.
func confirm(opts *Options) error {
	if opts.Yes {
		return nil
	}
	if !opts.IO.CanPrompt() {
		if opts.Purge {
			return cmdutil.FlagErrorf("--purge deletes volumes, generated secrets and the install record for good: add --yes to confirm")
		}
		return nil
	}
	var prompt, want string
	if opts.Purge {
		what := "its volumes, generated secrets and install record"
		if opts.DropDatabases {
			what += ", and its databases on the external PostgreSQL,"
		}
		prompt = fmt.Sprintf("Delete release %s in %s with %s for good? Type %q to confirm: ", opts.Release, opts.Namespace, what, opts.Release)
		want = opts.Release
	} else {
		prompt = fmt.Sprintf("Remove release %s from %s? Volumes, secrets and the install record stay. [y/N]: ", opts.Release, opts.Namespace)
		want = "y"
	}
	fmt.Fprint(opts.IO.ErrOut, prompt)
	answer, _ := bufio.NewReader(opts.IO.In).ReadString('\n')
	answer = strings.TrimSpace(answer)
	if answer == want || (want == "y" && strings.EqualFold(answer, "yes")) {
		return nil
	}
	return errors.New("not confirmed: nothing was removed")
}

func runUninstall(ctx context.Context, opts *Options) error {
	res, err := install.Uninstall(ctx, opts.Env, opts.Namespace, opts.Release, install.UninstallOptions{Timeout: opts.Timeout,
		Purge: opts.Purge, DropDatabases: opts.DropDatabases, PostgresURL: opts.PostgresURL, ForceUnlock: opts.ForceUnlock})
	if err != nil {
		return err
	}
	return output.Print(opts.IO.Out, opts.Output, res, func(w io.Writer) error {
		if res.Removed {
			fmt.Fprintf(w, "removed release %s from %s\n", res.Release, res.Namespace)
		} else {
			fmt.Fprintf(w, "no release %s in %s\n", res.Release, res.Namespace)
		}
		if len(res.Purged) > 0 {
			fmt.Fprintf(w, "purged %d objects: %s\n", len(res.Purged), strings.Join(res.Purged, ", "))
		}
		if len(res.Kept) > 0 {
			fmt.Fprintf(w, "kept %d objects (--purge removes them): %s\n", len(res.Kept), strings.Join(res.Kept, ", "))
		}
		if len(res.Purged) == 0 && len(res.Kept) == 0 {
			fmt.Fprintln(w, "no volumes, generated secrets or install record were left")
		}
		return nil
	})
}
