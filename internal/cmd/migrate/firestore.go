package migrate

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	fs "github.com/resimate/resimatectl/internal/migrate/firestore"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/redact"
)

// FirestoreOptions are the inputs of `migrate firebase firestore` and its verify.
type FirestoreOptions struct {
	IO          *iostreams.IOStreams
	Redactor    *redact.Redactor
	Project     string
	Credentials string
	FromNDJSON  string
	Tenant      string
	DatabaseURL string
	BatchSize   int
	DryRun      bool
	Output      string
}

// NewFirestoreCmd returns `resimatectl migrate firebase firestore`.
func NewFirestoreCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &FirestoreOptions{IO: f.IOStreams, Redactor: f.Redactor}
	cmd := &cobra.Command{
		Use:   "firestore (--project <id> | --from-ndjson docs.ndjson) --tenant <name> --database-url URL",
		Short: "Copy Firestore documents into the tenant schema in PostgreSQL, every type kept",
		Long: `Copy every document of a Firestore database (root collections and all subcollections) into
tenant_<name>.firestore_documents in PostgreSQL, each value in a typed JSON encoding that loses
nothing (docs/migrate-firestore.md). Loads with COPY in batches; a checkpoint committed with each
batch lets a rerun, or a resume after a crash, go on where it stopped without duplicating.
Mapping collections to typed tables is not part of this version yet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return RunFirestore(cmd.Context(), opts)
		},
	}
	addFirestoreFlags(cmd, opts)
	cmd.Flags().IntVar(&opts.BatchSize, "batch-size", 5000, "Documents per COPY batch (and per checkpoint)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "Read every document and print the DDL and per-collection counts, writing nothing")
	cmd.AddCommand(newFirestoreVerifyCmd(f))
	return cmd
}

func addFirestoreFlags(cmd *cobra.Command, opts *FirestoreOptions) {
	fl := cmd.Flags()
	fl.StringVar(&opts.Project, "project", "", "Firestore project to read live (default $GOOGLE_CLOUD_PROJECT; honours FIRESTORE_EMULATOR_HOST)")
	fl.StringVar(&opts.Credentials, "credentials", "", "Service-account key file (default: the usual Google credentials)")
	fl.StringVar(&opts.FromNDJSON, "from-ndjson", "", "Read documents from an NDJSON file instead of the live project")
	fl.StringVar(&opts.Tenant, "tenant", "resimate_main", "Tenant whose schema (tenant_<name>) receives the documents")
	fl.StringVar(&opts.DatabaseURL, "database-url", "", "PostgreSQL URL of the platform database (also RESIMATE_DATABASE_URL)")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
}

func (o *FirestoreOptions) prepare(ctx context.Context) (fs.Source, string, string, *pgxpool.Pool, error) {
	if err := output.Validate(o.Output); err != nil {
		return nil, "", "", nil, &cmdutil.FlagError{Err: err}
	}
	if o.Project == "" && o.FromNDJSON == "" {
		o.Project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	if (o.Project == "") == (o.FromNDJSON == "") {
		return nil, "", "", nil, cmdutil.FlagErrorf("give either --project (live) or --from-ndjson")
	}
	schema, err := fs.TenantSchema(o.Tenant)
	if err != nil {
		return nil, "", "", nil, &cmdutil.FlagError{Err: err}
	}
	if o.DatabaseURL == "" {
		return nil, "", "", nil, cmdutil.FlagErrorf("--database-url is required")
	}
	o.Redactor.RegisterURLPassword(o.DatabaseURL)
	var src fs.Source
	key := ""
	if o.FromNDJSON != "" {
		src, key = &fs.NDJSONSource{Path: o.FromNDJSON}, "ndjson:"+o.FromNDJSON
	} else {
		client, err := firestore.NewClient(ctx, o.Project, googleOptions(o.Credentials, "FIRESTORE_EMULATOR_HOST")...)
		if err != nil {
			return nil, "", "", nil, fmt.Errorf("opening Firestore of %s: %w", o.Project, err)
		}
		src, key = &fs.LiveSource{Client: client, Project: o.Project}, "project:"+o.Project
	}
	pool, err := pgxpool.New(ctx, o.DatabaseURL)
	if err != nil {
		return nil, "", "", nil, err
	}
	return src, key, schema, pool, nil
}

// RunFirestore loads and prints what it did.
func RunFirestore(ctx context.Context, o *FirestoreOptions) error {
	src, key, schema, pool, err := o.prepare(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	l := &fs.Loader{Pool: pool, Schema: schema, SourceKey: key, BatchSize: o.BatchSize}
	if o.DryRun {
		return dryRunFirestore(ctx, o, src, l)
	}
	start := time.Now()
	if o.IO.IsStderrTTY() {
		l.Progress = func(done int64) {
			fmt.Fprintf(o.IO.ErrOut, "\rloaded %d documents (%.0f/s)   ", done, float64(done)/time.Since(start).Seconds())
		}
	}
	st, err := l.Load(ctx, src)
	if o.IO.IsStderrTTY() {
		fmt.Fprintln(o.IO.ErrOut)
	}
	if err != nil {
		return err
	}
	res := map[string]any{"source": src.Describe(), "table": schema + ".firestore_documents", "stats": st,
		"durationMs": time.Since(start).Milliseconds()}
	return output.Print(o.IO.Out, o.Output, res, func(w io.Writer) error {
		fmt.Fprintf(w, "%s -> %s.firestore_documents: %d read, %d written, %d already loaded (checkpoint)\n",
			src.Describe(), schema, st.Read, st.Written, st.Skipped)
		return nil
	})
}

func newFirestoreVerifyCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &FirestoreOptions{IO: f.IOStreams, Redactor: f.Redactor}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare counts and canonical checksums of every document, source against PostgreSQL",
		Long:  "Per collection group: document counts and a checksum of every document's canonical form, source against PostgreSQL; then every differing document. Exit status 1 when anything differs.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			src, _, schema, pool, err := opts.prepare(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			rep, err := fs.Verify(cmd.Context(), pool, schema, src)
			if err != nil {
				return err
			}
			err = output.Print(opts.IO.Out, opts.Output, rep, func(w io.Writer) error {
				fmt.Fprintln(w, "COLLECTION\tSOURCE\tPOSTGRES\tMATCH")
				for _, g := range rep.Groups {
					fmt.Fprintf(w, "%s\t%d\t%d\t%v\n", g.CollectionID, g.SourceCount, g.TargetCount, g.Match)
				}
				for _, d := range rep.Differences {
					fmt.Fprintf(w, "%s\t%s\n", d.Path, d.Problem)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(rep.Differences) > 0 {
				return cmdutil.ErrSilent
			}
			return nil
		},
	}
	addFirestoreFlags(cmd, opts)
	return cmd
}

// dryRunFirestore reads the whole source (so every document is parsed and encoded) and prints
// the DDL and the counts per collection group; nothing is written.
func dryRunFirestore(ctx context.Context, o *FirestoreOptions, src fs.Source, l *fs.Loader) error {
	counts := map[string]int{}
	total := 0
	err := src.Documents(ctx, func(d fs.Document) error {
		if _, err := fs.EncodeFields(d.Fields); err != nil {
			return fmt.Errorf("%s: %w", d.Path, err)
		}
		counts[d.CollectionID()]++
		total++
		return nil
	})
	if err != nil {
		return err
	}
	res := map[string]any{"dryRun": true, "source": src.Describe(), "ddl": l.DDL(), "documents": total, "collections": counts}
	return output.Print(o.IO.Out, o.Output, res, func(w io.Writer) error {
		fmt.Fprintf(o.IO.Out, "dry run, nothing written: %d documents from %s\n\n%s\n\n", total, src.Describe(), l.DDL())
		names := make([]string, 0, len(counts))
		for k := range counts {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintln(w, "COLLECTION\tDOCUMENTS")
		for _, k := range names {
			fmt.Fprintf(w, "%s\t%d\n", k, counts[k])
		}
		return nil
	})
}
