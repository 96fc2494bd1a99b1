// Package backup implements `resimatectl backup`: encrypted, checksummed backup sets of an
// installation, and their listing, verification, restore and pruning.
package backup

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
)

// NewCmdBackup returns `resimatectl backup`.
func NewCmdBackup(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up an installation into encrypted, verifiable sets, and restore them",
		Long: `A backup set holds the application's database, the identities (Kratos' database) and
Vault's Raft snapshot, each streamed through zstd and age into a store: a folder, S3 or an
S3-compatible store, Google Cloud Storage or Azure Blob Storage. A manifest records every
part's size and SHA-256; a set counts only once its completion marker is written, last.

Store URLs: /path or file:///path, s3://bucket?region=R (endpoint=URL&use_path_style=true for
S3-compatible stores), gs://bucket, azblob://container. Credentials come from each cloud's
usual environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*). See docs/backup.md.`,
	}
	cmd.AddCommand(NewCmdCreate(f, nil), NewCmdList(f, nil), NewCmdDescribe(f, nil), NewCmdVerify(f, nil),
		NewCmdRestore(f, nil), NewCmdPrune(f, nil), NewCmdSchedule(f, nil))
	return cmd
}

// StoreOptions name the store sets are kept in.
type StoreOptions struct {
	URL string
}

// addStoreFlag adds --store (also RESIMATE_STORE); alias names, like create's --to, are
// accepted for it.
func addStoreFlag(cmd *cobra.Command, o *StoreOptions, aliases ...string) {
	cmd.Flags().StringVar(&o.URL, "store", "", "Where sets are kept: a folder, file://, s3://, gs:// or azblob:// URL (also RESIMATE_STORE)")
	if len(aliases) > 0 {
		cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
			if slices.Contains(aliases, name) {
				return "store"
			}
			return pflag.NormalizedName(name)
		})
	}
}

func (o StoreOptions) open(ctx context.Context) (*backup.Store, error) {
	if o.URL == "" {
		return nil, cmdutil.FlagErrorf("--store (or RESIMATE_STORE) is required: where backup sets are kept")
	}
	return backup.Open(ctx, o.URL)
}

// KeyOptions open encrypted sets.
type KeyOptions struct {
	Identities     []string
	PassphraseFile string
}

func addKeyFlags(cmd *cobra.Command, o *KeyOptions) {
	cmd.Flags().StringArrayVarP(&o.Identities, "identity", "i", nil, "age identity file or unencrypted SSH private key that opens the set (repeatable)")
	cmd.Flags().StringVar(&o.PassphraseFile, "passphrase-file", "", "File holding the passphrase the set was encrypted with")
}

// openWithKeys reads the keys (a usage error when they cannot be read), then opens the store.
func openWithKeys(ctx context.Context, store StoreOptions, keys KeyOptions) (*backup.Store, backup.Keys, error) {
	k, err := backup.KeysFrom(keys.Identities, keys.PassphraseFile)
	if err != nil {
		return nil, k, &cmdutil.FlagError{Err: err}
	}
	s, err := store.open(ctx)
	return s, k, err
}

// parseParts checks --parts against the parts a set can hold.
func parseParts(parts []string) ([]string, error) {
	if len(parts) == 0 {
		return backup.PartNames, nil
	}
	for _, p := range parts {
		if !slices.Contains(backup.PartNames, p) {
			return nil, cmdutil.FlagErrorf("unknown part %q in --parts: use %s", p, strings.Join(backup.PartNames, ", "))
		}
	}
	// Restore order, whatever the order given.
	var out []string
	for _, p := range backup.PartNames {
		if slices.Contains(parts, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func addInstallationFlags(cmd *cobra.Command, o *shared.BackupSource, tokenUse string) {
	shared.AddReleaseFlag(cmd, &o.Release)
	shared.AddVaultClientFlags(cmd, &o.Vault, tokenUse)
}

// progress prints a line per step on stderr.
func progress(s *iostreams.IOStreams) func(string, ...any) {
	return func(format string, args ...any) { fmt.Fprintf(s.ErrOut, format+"\n", args...) }
}
