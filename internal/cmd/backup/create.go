package backup

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// CreateOptions are the inputs of `backup create`.
type CreateOptions struct {
	IO             *iostreams.IOStreams
	Factory        *cmdutil.Factory
	Store          StoreOptions
	Installation   shared.BackupSource
	Parts          []string
	Recipients     []string
	PassphraseFile string
	Insecure       bool
	Output         string
}

// NewCmdCreate returns `resimatectl backup create`; runF replaces the run function in tests.
func NewCmdCreate(f *cmdutil.Factory, runF func(context.Context, *CreateOptions) error) *cobra.Command {
	opts := &CreateOptions{IO: f.IOStreams, Factory: f}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Write one backup set of the installation",
		Long: `Dump the chosen parts in parallel into a new set: each database with pg_dump from one
snapshot (its tables checksummed in that snapshot), Vault with a Raft snapshot. Every part is
compressed with zstd and encrypted with age to the recipients before it leaves this machine;
nothing is written unencrypted to disk. The set is complete only once its manifest and its
completion marker are written: an interrupted backup never looks complete.`,
		Example: `  resimatectl backup create --to s3://acme-backups?region=eu-west-1 -r age1… 
  resimatectl backup create --to /mnt/backups --parts db,identities --recipient ~/.ssh/id_ed25519.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			parts, err := parseParts(opts.Parts)
			if err != nil {
				return err
			}
			opts.Parts = parts
			if opts.Insecure && (len(opts.Recipients) > 0 || opts.PassphraseFile != "") {
				return cmdutil.FlagErrorf("--insecure-no-encryption cannot be combined with --recipient or --passphrase-file")
			}
			if err := opts.Installation.Complete(f); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCreate(cmd.Context(), opts)
		},
	}
	addStoreFlag(cmd, &opts.Store, "to")
	addInstallationFlags(cmd, &opts.Installation, "may take Raft snapshots (sudo on sys/storage/raft/snapshot)")
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Parts, "parts", nil, "Parts to back up: cluster, db, identities, vault (default all)")
	fl.StringArrayVarP(&opts.Recipients, "recipient", "r", nil, "age public key (age1…, age1pq1…), SSH public key, or a file of them, to encrypt to (repeatable)")
	fl.StringVar(&opts.PassphraseFile, "passphrase-file", "", "Encrypt to the passphrase in this file instead of recipients")
	fl.BoolVar(&opts.Insecure, "insecure-no-encryption", false, "Write the set unencrypted (compressed and checksummed only)")
	cmdutil.MarkCommandLineOnly(cmd, "insecure-no-encryption")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func runCreate(ctx context.Context, opts *CreateOptions) error {
	var sealing backup.Sealing
	if !opts.Insecure {
		var err error
		if sealing, err = backup.SealTo(opts.Recipients, opts.PassphraseFile); err != nil {
			return &cmdutil.FlagError{Err: err}
		}
	}
	store, err := opts.Store.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := shared.TakeBackup(ctx, opts.Factory, &opts.Installation, store, opts.Parts, sealing, progress(opts.IO))
	if err != nil {
		return err
	}
	return output.Print(opts.IO.Out, opts.Output, m, func(w io.Writer) error {
		fmt.Fprintf(w, "Backup set %s complete in %s: %d parts, %s, %s.\n", m.ID, store.Where, len(m.Parts), backup.HumanBytes(m.Size()), encryptionNote(m))
		return nil
	})
}
