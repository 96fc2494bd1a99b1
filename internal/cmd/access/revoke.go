package access

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/access"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/kube"
)

// RevokeOptions are the inputs of `access revoke`.
type RevokeOptions struct {
	IO             *iostreams.IOStreams
	Factory        *cmdutil.Factory
	Store          StoreOptions
	KratosAdminURL string
	Identity       string
	Sessions       string
	Binding        string
	DryRun         bool
	Yes            bool
}

// NewCmdRevoke returns `resimatectl access revoke`; runF replaces the run function in tests.
func NewCmdRevoke(f *cmdutil.Factory, runF func(context.Context, *RevokeOptions) error) *cobra.Command {
	opts := &RevokeOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "revoke (--identity ID | --sessions ID | --binding [NAMESPACE/]NAME)",
		Short: "Deactivate an identity, revoke its sessions, or delete a binding",
		Long: `Revoke one access, after printing the plan:
  --identity ID         deactivate the Kratos identity and revoke its sessions
  --sessions ID         revoke every session of the Kratos identity
  --binding NS/NAME     delete the RoleBinding; --binding NAME deletes the ClusterRoleBinding
An entry is appended to the audit table in the platform's PostgreSQL (--database-url) before and
after the change. On a terminal it asks first; otherwise --yes is required. --dry-run prints the
plan and changes nothing.`,
		Example: `  resimatectl access revoke --binding resimate/ci-deployer --dry-run
  resimatectl access revoke --identity 6f1c… --kratos-admin-url http://127.0.0.1:4434 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			given := 0
			for _, v := range []string{opts.Identity, opts.Sessions, opts.Binding} {
				if v != "" {
					given++
				}
			}
			if given != 1 {
				return cmdutil.FlagErrorf("give exactly one of --identity, --sessions or --binding")
			}
			if opts.Binding == "" && opts.KratosAdminURL == "" {
				return cmdutil.FlagErrorf("--identity and --sessions need --kratos-admin-url (or RESIMATE_KRATOS_ADMIN_URL)")
			}
			if !opts.DryRun && !opts.Yes && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("not on a terminal: add --yes to revoke, or --dry-run to see the plan")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRevoke(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Identity, "identity", "", "Kratos identity id to deactivate (its sessions are revoked too)")
	fl.StringVar(&opts.Sessions, "sessions", "", "Kratos identity id whose sessions to revoke")
	fl.StringVar(&opts.Binding, "binding", "", "RoleBinding NAMESPACE/NAME, or ClusterRoleBinding NAME, to delete")
	fl.StringVar(&opts.KratosAdminURL, "kratos-admin-url", "", "Kratos admin API")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Print the plan only")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "Do not ask for confirmation")
	addStoreFlag(cmd, &opts.Store, "PostgreSQL database whose audit table records the revocation")
	cmdutil.MarkCommandLineOnly(cmd, "yes", "identity", "sessions", "binding")
	return cmd
}

func runRevoke(ctx context.Context, opts *RevokeOptions) error {
	f := opts.Factory
	defer f.ClosePools()
	var store *access.Store
	if !opts.DryRun {
		// The audit table is opened first: a revocation that cannot be recorded is not made.
		var err error
		if store, err = opts.Store.open(ctx, f); err != nil {
			return err
		}
	}
	rev, actor, err := plan(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "Plan: %s.\n", rev.Plan)
	if opts.DryRun {
		fmt.Fprintln(opts.IO.Out, "Dry run: nothing was changed.")
		return nil
	}
	if !opts.Yes {
		if !shared.Confirm(opts.IO, "Go ahead?") {
			return errors.New("not confirmed: nothing was revoked")
		}
	}
	entry := access.AuditEntry{Actor: actor, Action: rev.Action, Target: rev.Target, Plan: rev.Plan, Result: "started"}
	if err := store.Audit(ctx, entry); err != nil {
		return err
	}
	doErr := rev.Do(ctx)
	entry.Result = "done"
	if doErr != nil {
		entry.Result = "failed: " + doErr.Error()
	}
	// The outcome is recorded even when ctx ended during the change.
	if err := store.Audit(context.WithoutCancel(ctx), entry); err != nil {
		return errors.Join(doErr, err)
	}
	if doErr != nil {
		return doErr
	}
	fmt.Fprintf(opts.IO.Out, "Done: %s.\n", rev.Plan)
	return nil
}

func plan(ctx context.Context, opts *RevokeOptions) (*access.Revocation, string, error) {
	f := opts.Factory
	// The actor is who the cluster says the operator is; the OS user where it cannot say.
	actor := os.Getenv("USER")
	set, kubeErr := f.Kube.Get()
	if kubeErr == nil {
		if who := kube.WhoAmI(ctx, set.Kube); who != "" {
			actor = who
		}
	}
	if opts.Binding != "" {
		if kubeErr != nil {
			return nil, "", kubeErr
		}
		rev, err := access.PlanBinding(ctx, set.Kube, opts.Binding)
		return rev, actor, err
	}
	f.Redactor.RegisterURLPassword(opts.KratosAdminURL)
	admin := f.KratosAdmin(opts.KratosAdminURL)
	if opts.Identity != "" {
		rev, err := access.PlanIdentity(ctx, admin, opts.Identity)
		return rev, actor, err
	}
	rev, err := access.PlanSessions(ctx, admin, opts.Sessions)
	return rev, actor, err
}
