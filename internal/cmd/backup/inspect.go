package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// InspectOptions are the inputs of `backup list`, `describe` and `verify`.
type InspectOptions struct {
	IO     *iostreams.IOStreams
	Store  StoreOptions
	Keys   KeyOptions
	ID     string
	Output string
	// Deep restores the databases into scratch databases on DatabaseURL's server (verify).
	Deep        bool
	DatabaseURL string
}

// NewCmdList returns `resimatectl backup list`; runF replaces the run function in tests.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the sets in a store, oldest first",
		Long: `List every set in the store with its time, release, parts, size and encryption. A set
whose backup did not finish has no completion marker and is listed as incomplete; it is never
restored, and prune removes it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspect(cmd.Context(), opts, runF, runList)
		},
	}
	addStoreFlag(cmd, &opts.Store)
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func inspect(ctx context.Context, opts *InspectOptions, runF, run func(context.Context, *InspectOptions) error) error {
	if err := output.Validate(opts.Output); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	if runF != nil {
		return runF(ctx, opts)
	}
	return run(ctx, opts)
}

func runList(ctx context.Context, opts *InspectOptions) error {
	store, err := opts.Store.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	sets, err := store.List(ctx)
	if err != nil {
		return err
	}
	return output.Print(opts.IO.Out, opts.Output, sets, func(w io.Writer) error {
		fmt.Fprintln(w, "ID\tSTATE\tRELEASE\tPARTS\tSIZE\tENCRYPTION")
		for _, e := range sets {
			if e.Manifest == nil {
				fmt.Fprintf(w, "%s\t%s\t\t\t\t\n", e.ID, e.Problem)
				continue
			}
			m := e.Manifest
			fmt.Fprintf(w, "%s\tcomplete\t%s/%s\t%s\t%s\t%s\n", e.ID, m.Namespace, m.Release, partNames(m), backup.HumanBytes(m.Size()), m.Encryption)
		}
		return nil
	})
}

func partNames(m *backup.Manifest) string {
	names := make([]string, len(m.Parts))
	for i, p := range m.Parts {
		names[i] = p.Name
	}
	return strings.Join(names, ",")
}

func encryptionNote(m *backup.Manifest) string {
	if m.Encryption == "none" {
		return "NOT encrypted"
	}
	return fmt.Sprintf("encrypted with age to %d recipient(s)", len(m.Recipients))
}

// NewCmdDescribe returns `resimatectl backup describe`; runF replaces the run function in tests.
func NewCmdDescribe(f *cmdutil.Factory, runF func(context.Context, *InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "describe ID",
		Short: "Show a set's manifest: parts, sizes, SHA-256, versions, duration",
		Long: `Show what a complete set holds, from its manifest, without decrypting anything: each part's
stored size and SHA-256, the server it came from, its tables' row counts, the tool and chart
versions, the recipients, and how long the backup took. verify checks the bytes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return inspect(cmd.Context(), opts, runF, runDescribe)
		},
	}
	addStoreFlag(cmd, &opts.Store)
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

func runDescribe(ctx context.Context, opts *InspectOptions) error {
	store, err := opts.Store.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := store.Manifest(ctx, opts.ID)
	if err != nil {
		return err
	}
	return output.Print(opts.IO.Out, opts.Output, m, func(w io.Writer) error {
		describeTable(w, m)
		return nil
	})
}

func describeTable(w io.Writer, m *backup.Manifest) {
	fmt.Fprintf(w, "Set:\t%s\nRelease:\t%s/%s\nChart:\t%s (app %s)\nTool:\t%s\nCreated:\t%s\nDuration:\t%.1fs\nEncryption:\t%s\n",
		m.ID, m.Namespace, m.Release, m.Chart, m.AppVersion, m.Tool, m.Created.Format("2006-01-02 15:04:05 MST"), m.Seconds, encryptionNote(m))
	for _, r := range m.Recipients {
		fmt.Fprintf(w, "  recipient:\t%s\n", r)
	}
	fmt.Fprintln(w, "\nPART\tSERVER\tSIZE\tPLAIN\tSECONDS\tSHA-256")
	for _, p := range m.Parts {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.1f\t%s\n", p.Name, p.Server, backup.HumanBytes(p.Size), backup.HumanBytes(p.PlainSize), p.Seconds, p.SHA256)
	}
	for _, p := range m.Parts {
		if len(p.Tables) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nTABLES OF %s\tROWS\n", p.Name)
		names := make([]string, 0, len(p.Tables))
		for t := range p.Tables {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, t := range names {
			fmt.Fprintf(w, "%s\t%d\n", t, p.Tables[t].Rows)
		}
	}
}

// NewCmdVerify returns `resimatectl backup verify`; runF replaces the run function in tests.
func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "verify ID",
		Short: "Decrypt every part of a set and check it against the manifest",
		Long: `Read the whole set: the manifest against its completion marker and its sealed copy, then
every part decrypted end to end (age authenticates each chunk) and checked against the SHA-256
of its stored bytes and of its content. With --deep, each database part is also restored into
a scratch database (on the server of --database-url, a role that may create databases; dropped
afterwards) and every table's row count and checksum compared with those recorded in the
backup's snapshot. Exit status 1 on any integrity failure.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if opts.Deep && opts.DatabaseURL == "" {
				return cmdutil.FlagErrorf("--deep needs --database-url (or RESIMATE_DATABASE_URL): the server the scratch databases are made on")
			}
			f.Redactor.RegisterURLPassword(opts.DatabaseURL)
			return inspect(cmd.Context(), opts, runF, runVerify)
		},
	}
	addStoreFlag(cmd, &opts.Store)
	addKeyFlags(cmd, &opts.Keys)
	cmd.Flags().BoolVar(&opts.Deep, "deep", false, "Also restore the databases into scratch databases and compare table checksums")
	cmd.Flags().StringVar(&opts.DatabaseURL, "database-url", "", "PostgreSQL URL of a role that may create databases, for --deep (also RESIMATE_DATABASE_URL)")
	cmdutil.MarkSecret(cmd, "database-url")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

// verifyResult is what verify prints as data.
type verifyResult struct {
	ID     string `json:"id"`
	Intact bool   `json:"intact"`
	Error  string `json:"error,omitempty"`
}

func runVerify(ctx context.Context, opts *InspectOptions) error {
	store, keys, err := openWithKeys(ctx, opts.Store, opts.Keys)
	if err != nil {
		return err
	}
	defer store.Close()
	if opts.Deep {
		_, err = backup.VerifyDeep(ctx, store, opts.ID, keys, backup.NewScratch(opts.DatabaseURL), progress(opts.IO))
	} else {
		_, err = backup.Verify(ctx, store, opts.ID, keys, progress(opts.IO))
	}
	if ierr := cmdutil.Interrupted(ctx); ierr != nil {
		return ierr
	}
	res := verifyResult{ID: opts.ID, Intact: err == nil}
	var integrity *backup.IntegrityError
	if err != nil && !errors.As(err, &integrity) {
		return err
	}
	if err != nil {
		res.Error = err.Error()
	}
	perr := output.Print(opts.IO.Out, opts.Output, res, func(w io.Writer) error {
		if res.Intact {
			fmt.Fprintf(w, "Set %s is intact: every part decrypts and matches its manifest.\n", opts.ID)
		}
		return nil
	})
	if perr != nil {
		return perr
	}
	return err
}
