package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
)

// RestoreOptions are the inputs of `backup restore`.
type RestoreOptions struct {
	IO           *iostreams.IOStreams
	Factory      *cmdutil.Factory
	Store        StoreOptions
	Keys         KeyOptions
	Installation shared.BackupSource
	ID           string
	Parts        []string
	// IntoNamespace is where the cluster part is restored (default: the release's namespace).
	IntoNamespace string
	ValuesFile    string
	Overwrite     bool
	VaultForce    bool
	DryRun        bool
	Yes           bool
}

// NewCmdRestore returns `resimatectl backup restore`; runF replaces the run function in tests.
func NewCmdRestore(f *cmdutil.Factory, runF func(context.Context, *RestoreOptions) error) *cobra.Command {
	opts := &RestoreOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "restore ID",
		Short: "Restore a set's parts into the installation, after checking the whole set",
		Long: `Print the plan, then check the whole set before anything changes: the manifest against its
sealed copy, and every chosen part decrypted end to end against its SHA-256. A target that
holds data is refused unless --overwrite is given. Each database is restored in one
transaction (nothing of a failed restore stays), then its tables' checksums are compared with
those recorded in the backup's snapshot.

The cluster part (--parts cluster, on its own) recreates the release's generated Secrets in
--into-namespace and writes the values to reinstall it with (--values-file); it prints the
install command, after which the data parts are restored into the new installation.

Vault's snapshot replaces Vault's whole state. Afterwards Vault opens only with the unseal keys
of the cluster the snapshot was taken from; --vault-force installs a snapshot of another Vault
cluster. On a terminal restore asks first; otherwise --yes is required.`,
		Example: `  resimatectl backup restore 20261129T020000Z-3f9a1c --from s3://acme-backups -i key.txt --parts db --overwrite
  resimatectl backup restore 20261129T020000Z-3f9a1c --store /mnt/backups -i key.txt -n resimate-staging --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			var err error
			if len(opts.Parts) > 0 {
				if opts.Parts, err = parseParts(opts.Parts); err != nil {
					return err
				}
			}
			if err := opts.Installation.Complete(f); err != nil {
				return err
			}
			if opts.IntoNamespace != "" {
				if errs := validation.IsDNS1123Label(opts.IntoNamespace); len(errs) > 0 {
					return cmdutil.FlagErrorf("--into-namespace %q: %s", opts.IntoNamespace, errs[0])
				}
				opts.Installation.Namespace = opts.IntoNamespace
			}
			if slices.Contains(opts.Parts, "cluster") && len(opts.Parts) > 1 {
				return cmdutil.FlagErrorf("--parts cluster is restored on its own: restore it, install with the values file it writes, then restore the other parts")
			}
			if opts.ValuesFile == "" {
				opts.ValuesFile = opts.Installation.Namespace + "-" + opts.Installation.Release + "-values.yaml"
			}
			if !opts.Yes && !opts.DryRun && !opts.IO.CanPrompt() {
				return cmdutil.FlagErrorf("not on a terminal: add --yes to restore, or --dry-run to see the plan")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRestore(cmd.Context(), opts)
		},
	}
	addStoreFlag(cmd, &opts.Store, "from")
	addKeyFlags(cmd, &opts.Keys)
	addInstallationFlags(cmd, &opts.Installation, "may install Raft snapshots (sudo on sys/storage/raft/snapshot)")
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Parts, "parts", nil, "Parts to restore: cluster (on its own), or db, identities, vault (default every data part the set holds)")
	fl.StringVar(&opts.IntoNamespace, "into-namespace", "", "Namespace to restore into (default: the release's, -n)")
	fl.StringVar(&opts.ValuesFile, "values-file", "", "Where the cluster part's values are written (default <namespace>-<release>-values.yaml)")
	fl.BoolVar(&opts.Overwrite, "overwrite", false, "Replace what the targets hold")
	fl.BoolVar(&opts.VaultForce, "vault-force", false, "Install a Vault snapshot taken from another Vault cluster")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Print the plan and change nothing")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmdutil.MarkCommandLineOnly(cmd, "yes", "overwrite", "vault-force")
	return cmd
}

func runRestore(ctx context.Context, opts *RestoreOptions) error {
	store, keys, err := openWithKeys(ctx, opts.Store, opts.Keys)
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := store.Manifest(ctx, opts.ID)
	if err != nil {
		return err
	}
	names := opts.Parts
	if len(names) == 0 {
		for _, p := range backup.PartNames {
			if _, ok := m.Part(p); ok && p != "cluster" {
				names = append(names, p)
			}
		}
	}
	for _, n := range names {
		if _, ok := m.Part(n); !ok {
			return fmt.Errorf("set %s has no part %s (it holds %s)", m.ID, n, partNames(m))
		}
	}
	parts, done, err := restoreParts(ctx, opts, m, names)
	if err != nil {
		return err
	}
	defer done()
	refused, err := printPlan(ctx, opts, m, parts)
	if err != nil {
		return err
	}
	if refused && !opts.DryRun {
		return fmt.Errorf("%w: add --overwrite to replace it; nothing was restored", backup.ErrNotEmpty)
	}
	if opts.DryRun {
		fmt.Fprintln(opts.IO.Out, "Dry run: nothing was changed.")
		return nil
	}
	if !opts.Yes && !shared.Confirm(opts.IO, "Restore?") {
		return errors.New("not confirmed: nothing was restored")
	}
	_, err = backup.Restore(ctx, store, opts.ID, backup.RestoreOptions{Parts: parts, Keys: keys, Overwrite: opts.Overwrite, Progress: progress(opts.IO)})
	if ierr := cmdutil.Interrupted(ctx); ierr != nil {
		return ierr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "Restored %s from set %s into %s/%s.\n", joinNames(parts), m.ID, opts.Installation.Namespace, opts.Installation.Release)
	if slices.ContainsFunc(parts, func(p backup.Part) bool { return p.Name == "vault" }) {
		fmt.Fprintln(opts.IO.Out, "Vault now holds the snapshot's state: unseal it with the keys of the cluster the snapshot came from (resimatectl vault unseal).")
	}
	return nil
}

// printPlan says what each part replaces; refused is a non-empty target without --overwrite.
func printPlan(ctx context.Context, opts *RestoreOptions, m *backup.Manifest, parts []backup.Part) (refused bool, err error) {
	fmt.Fprintf(opts.IO.Out, "Plan: restore set %s (%s/%s, %s) into %s/%s:\n", m.ID, m.Namespace, m.Release,
		m.Created.Format("2006-01-02 15:04 MST"), opts.Installation.Namespace, opts.Installation.Release)
	for _, p := range parts {
		empty, err := p.IsEmpty(ctx)
		if err != nil {
			return false, fmt.Errorf("part %s: %w", p.Name, err)
		}
		what := "empty: restored"
		switch {
		case !empty && opts.Overwrite:
			what = "holds data: replaced (--overwrite)"
		case !empty:
			what, refused = "holds data: refused without --overwrite", true
		}
		fmt.Fprintf(opts.IO.Out, "  %-10s -> %s (%s)\n", p.Name, p.Target, what)
	}
	return refused, nil
}

func joinNames(parts []backup.Part) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// restoreParts are the parts restored: the cluster part needs no installed release (it comes
// before the install); the others are the installed release's.
func restoreParts(ctx context.Context, opts *RestoreOptions, m *backup.Manifest, names []string) ([]backup.Part, func(), error) {
	in := &opts.Installation
	if slices.Equal(names, []string{"cluster"}) {
		set, err := opts.Factory.Kube.Get()
		if err != nil {
			return nil, nil, err
		}
		c := backup.Cluster{Kube: set.Kube, Namespace: in.Namespace, Release: in.Release, ValuesFile: opts.ValuesFile,
			Restored: func(st *backup.ClusterState) { printReinstall(opts, m, st) }}
		return []backup.Part{backup.ClusterPart(c)}, func() {}, nil
	}
	target, done, err := in.Open(ctx, opts.Factory, names)
	if err != nil {
		return nil, nil, err
	}
	target.VaultForce = opts.VaultForce
	parts, err := target.Parts(ctx, names)
	if err != nil {
		done()
		return nil, nil, err
	}
	return parts, done, nil
}

// printReinstall says how the restored cluster state becomes an installation again.
func printReinstall(opts *RestoreOptions, m *backup.Manifest, st *backup.ClusterState) {
	in := opts.Installation
	profile := st.Profile
	if profile == "" {
		profile = "<profile>"
	}
	fmt.Fprintf(opts.IO.Out, "Release %s (chart %s, profile %s) can now be reinstalled into %s with the values in %s:\n", st.Release, st.Chart, profile, in.Namespace, opts.ValuesFile)
	fmt.Fprintf(opts.IO.Out, "  resimatectl install --profile %s -n %s --release %s -f %s\n", profile, in.Namespace, st.Release, opts.ValuesFile)
	fmt.Fprintf(opts.IO.Out, "then its data:\n  resimatectl backup restore %s --store %s -n %s --release %s --overwrite\n", m.ID, opts.Store.URL, in.Namespace, st.Release)
}
