package migrate

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/gcsfs"
	"github.com/resimate/resimatectl/internal/iostreams"
	fs "github.com/resimate/resimatectl/internal/migrate/firestore"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/redact"
)

// FirestoreOptions are the inputs of `migrate firebase firestore` and its verify.
type FirestoreOptions struct {
	IO              *iostreams.IOStreams
	Redactor        *redact.Redactor
	Project         string
	Credentials     string
	FromNDJSON      string
	FromExport      string
	Tenant          string
	DatabaseURL     string
	MappingFile     string
	BatchSize       int
	DryRun          bool
	SchemaOnly      bool
	GenerateMapping bool
	Sample          int
	PageSize        int
	Output          string
}

// NewFirestoreCmd returns `resimatectl migrate firebase firestore`.
func NewFirestoreCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &FirestoreOptions{IO: f.IOStreams, Redactor: f.Redactor}
	cmd := &cobra.Command{
		Use:   "firestore (--project <id> | --from-export DIR|gs://bucket/folder | --from-ndjson FILE) --tenant <name> --database-url URL",
		Short: "Copy Firestore documents into the tenant schema in PostgreSQL, typed, every value kept",
		Long: `Copy every document of a Firestore database (root collections and all subcollections) into the
tenant schema tenant_<name> in PostgreSQL. Sources: the live project (the emulator when
FIRESTORE_EMULATOR_HOST is set), a managed export folder as written by gcloud firestore export
(local or gs://, read offline), or NDJSON.

A mapping file (--mapping; --generate-mapping writes a starting one) sends collections to typed
tables; fields it does not name go to each table's data column, collections it does not name to
firestore_documents, and documents that do not fit their table to firestore_rejects with the
reason (exit status 1): nothing is dropped. The tables are created as a versioned migration
(--schema-only prints it). Loads with COPY in batches; a checkpoint committed with each batch lets
a rerun, or a resume after a crash, go on where it stopped without duplicating.
Reference: docs/migrate-firestore.md.`,
		Example: `  # Start a mapping from a sample of the export, edit it, look at the tables it makes
  resimatectl migrate firebase firestore --from-export gs://backups/2026-11-01 --generate-mapping > mapping.yaml
  resimatectl migrate firebase firestore --mapping mapping.yaml --schema-only
  # Load, then prove it
  resimatectl migrate firebase firestore --from-export gs://backups/2026-11-01 --mapping mapping.yaml --tenant acme --database-url "$DATABASE_URL"
  resimatectl migrate firebase firestore verify --from-export gs://backups/2026-11-01 --mapping mapping.yaml --tenant acme --database-url "$DATABASE_URL"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return RunFirestore(cmd.Context(), opts)
		},
	}
	addFirestoreFlags(cmd, opts)
	fl := cmd.Flags()
	fl.IntVar(&opts.BatchSize, "batch-size", 5000, "Documents per COPY batch (and per checkpoint)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Read every document and print the DDL and per-collection counts, writing nothing")
	fl.BoolVar(&opts.SchemaOnly, "schema-only", false, "Print the DDL the mapping makes and exit (needs no source or database)")
	fl.BoolVar(&opts.GenerateMapping, "generate-mapping", false, "Sample the source and print a starting mapping (YAML) with inferred types")
	fl.IntVar(&opts.Sample, "sample", 10000, "Documents --generate-mapping reads (0: all)")
	cmd.AddCommand(newFirestoreVerifyCmd(f))
	return cmd
}

func addFirestoreFlags(cmd *cobra.Command, opts *FirestoreOptions) {
	fl := cmd.Flags()
	fl.StringVar(&opts.Project, "project", "", "Firestore project to read live (default $GOOGLE_CLOUD_PROJECT; honours FIRESTORE_EMULATOR_HOST)")
	fl.StringVar(&opts.Credentials, "credentials", "", "Service-account key file (default: the usual Google credentials)")
	fl.StringVar(&opts.FromExport, "from-export", "", "Read a managed export folder (local path or gs://bucket/folder) instead of the live project")
	fl.StringVar(&opts.FromNDJSON, "from-ndjson", "", "Read documents from an NDJSON file instead of the live project")
	fl.StringVar(&opts.Tenant, "tenant", "resimate_main", "Tenant whose schema (tenant_<name>) receives the documents")
	fl.StringVar(&opts.DatabaseURL, "database-url", "", "PostgreSQL URL of the platform database (also RESIMATE_DATABASE_URL)")
	fl.IntVar(&opts.PageSize, "page-size", 1000, "Live source: documents per query page (bigger pages, fewer round trips, more memory)")
	fl.StringVar(&opts.MappingFile, "mapping", "", "Mapping file (YAML) of collections to typed tables (default: every document in firestore_documents)")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
}

// plan reads the mapping and compiles it for the tenant's schema.
func (o *FirestoreOptions) plan() (*fs.Plan, error) {
	schema, err := fs.TenantSchema(o.Tenant)
	if err != nil {
		return nil, &cmdutil.FlagError{Err: err}
	}
	var m *fs.Mapping
	if o.MappingFile != "" {
		if m, err = fs.LoadMapping(o.MappingFile); err != nil {
			return nil, err
		}
	}
	return fs.NewPlan(schema, m), nil
}

// source opens the one source the flags name; key names it in the checkpoint table.
func (o *FirestoreOptions) source(ctx context.Context) (src fs.Source, key string, err error) {
	if o.Project == "" && o.FromNDJSON == "" && o.FromExport == "" {
		o.Project = os.Getenv("GOOGLE_CLOUD_PROJECT")
	}
	given := 0
	for _, s := range []string{o.Project, o.FromNDJSON, o.FromExport} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return nil, "", cmdutil.FlagErrorf("give exactly one source: --project (live), --from-export or --from-ndjson")
	}
	switch {
	case o.FromNDJSON != "":
		if _, err := os.Stat(o.FromNDJSON); err != nil {
			return nil, "", err
		}
		return &fs.NDJSONSource{Path: o.FromNDJSON}, "ndjson:" + o.FromNDJSON, nil
	case strings.HasPrefix(o.FromExport, "gs://"):
		client, err := storage.NewClient(ctx, googleOptions(o.Credentials, "STORAGE_EMULATOR_HOST")...)
		if err != nil {
			return nil, "", fmt.Errorf("opening Cloud Storage: %w", err)
		}
		files, err := gcsfs.New(ctx, client, o.FromExport)
		if err != nil {
			return nil, "", &cmdutil.FlagError{Err: err}
		}
		return &fs.ExportSource{Files: files, Name: o.FromExport}, "export:" + o.FromExport, nil
	case o.FromExport != "":
		if st, err := os.Stat(o.FromExport); err != nil || !st.IsDir() {
			return nil, "", fmt.Errorf("--from-export %s: not a folder", o.FromExport)
		}
		return &fs.ExportSource{Files: os.DirFS(o.FromExport), Name: o.FromExport}, "export:" + o.FromExport, nil
	}
	client, err := fs.NewLiveClient(ctx, googleOptions(o.Credentials, "FIRESTORE_EMULATOR_HOST")...)
	if err != nil {
		return nil, "", fmt.Errorf("opening Firestore of %s: %w", o.Project, err)
	}
	return &fs.LiveSource{Client: client, Project: o.Project, PageSize: o.PageSize}, "project:" + o.Project, nil
}

func (o *FirestoreOptions) database(ctx context.Context) (*pgxpool.Pool, error) {
	if o.DatabaseURL == "" {
		return nil, cmdutil.FlagErrorf("--database-url is required")
	}
	o.Redactor.RegisterURLPassword(o.DatabaseURL)
	return pgxpool.New(ctx, o.DatabaseURL)
}

// RunFirestore loads and prints what it did.
func RunFirestore(ctx context.Context, o *FirestoreOptions) error {
	if err := output.Validate(o.Output); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	plan, err := o.plan()
	if err != nil {
		return err
	}
	if o.SchemaOnly {
		_, err := fmt.Fprint(o.IO.Out, plan.DDL())
		return err
	}
	src, key, err := o.source(ctx)
	if err != nil {
		return err
	}
	if o.GenerateMapping {
		return generateMapping(ctx, o, src)
	}
	if o.DryRun {
		return dryRunFirestore(ctx, o, src, plan)
	}
	pool, err := o.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The checkpoint belongs to a source and a mapping: a changed mapping loads everything again.
	l := &fs.Loader{Pool: pool, Plan: plan, SourceKey: key + " mapping:" + plan.Fingerprint(), BatchSize: o.BatchSize}
	start := time.Now()
	if o.IO.IsStderrTTY() {
		l.Progress = func(done int64, group string) {
			fmt.Fprintf(o.IO.ErrOut, "\r\033[Kloaded %d documents (%.0f/s), now in %s", done, float64(done)/time.Since(start).Seconds(), group)
		}
	}
	st, err := l.Load(ctx, src)
	if o.IO.IsStderrTTY() {
		fmt.Fprintln(o.IO.ErrOut)
	}
	if err != nil {
		return err
	}
	res := map[string]any{"source": src.Describe(), "schema": plan.Schema, "stats": st, "durationMs": time.Since(start).Milliseconds()}
	err = output.Print(o.IO.Out, o.Output, res, func(w io.Writer) error {
		fmt.Fprintf(w, "%s -> %s (schema version %d%s): %d read, %d written, %d rejected, %d already loaded (checkpoint)\n",
			src.Describe(), plan.Schema, st.Schema.Version, map[bool]string{true: ", applied now"}[st.Schema.Applied],
			st.Read, st.Written, st.Rejected, st.Skipped)
		fmt.Fprintln(w, "TABLE\tWRITTEN")
		for _, t := range sortedKeys(st.Tables) {
			fmt.Fprintf(w, "%s\t%d\n", t, st.Tables[t])
		}
		for _, k := range st.ForeignKeys {
			if k.Created {
				fmt.Fprintf(w, "foreign key %s -> %s: created\n", k.Name, k.References)
			} else {
				fmt.Fprintf(w, "foreign key %s -> %s: not created, %d rows point at documents that do not exist (e.g. %s); the rows are kept\n",
					k.Name, k.References, k.Dangling, k.Example)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if st.Rejected > 0 {
		fmt.Fprintf(o.IO.ErrOut, "%d documents did not fit their table: they are in %s.%s with the reason; fix the mapping or the data and run again\n",
			st.Rejected, plan.Schema, fs.RejectsTable)
		return cmdutil.ErrSilent
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func generateMapping(ctx context.Context, o *FirestoreOptions, src fs.Source) error {
	m, err := fs.GenerateMapping(ctx, src, o.Sample)
	if err != nil {
		return err
	}
	y, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "# Mapping generated by resimatectl from %s (sample of %d documents; 0 = all).\n# Edit it, then: resimatectl migrate firebase firestore --mapping <this file> --schema-only\n# Reference: docs/migrate-firestore.md; schema: docs/firestore-mapping.schema.json\n", src.Describe(), o.Sample)
	_, err = o.IO.Out.Write(y)
	return err
}

func newFirestoreVerifyCmd(f *cmdutil.Factory) *cobra.Command {
	opts := &FirestoreOptions{IO: f.IOStreams, Redactor: f.Redactor}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare counts and canonical checksums of every document, source against PostgreSQL",
		Long: `Per collection group: document counts and a checksum of every document's canonical form, source
against PostgreSQL (documents rebuilt from their typed columns and data), then every differing,
missing, extra or rejected document. Exit status 1 when anything differs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFirestoreVerify(cmd.Context(), opts)
		},
	}
	addFirestoreFlags(cmd, opts)
	return cmd
}

func runFirestoreVerify(ctx context.Context, o *FirestoreOptions) error {
	if err := output.Validate(o.Output); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	plan, err := o.plan()
	if err != nil {
		return err
	}
	src, _, err := o.source(ctx)
	if err != nil {
		return err
	}
	pool, err := o.database(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := fs.Verify(ctx, pool, plan, src)
	if err != nil {
		return err
	}
	err = output.Print(o.IO.Out, o.Output, rep, func(w io.Writer) error {
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
}

// dryRunFirestore reads the whole source (so every document is parsed and encoded) and prints
// the DDL and the counts per collection group; nothing is written.
func dryRunFirestore(ctx context.Context, o *FirestoreOptions, src fs.Source, plan *fs.Plan) error {
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
	res := map[string]any{"dryRun": true, "source": src.Describe(), "ddl": plan.DDL(), "documents": total, "collections": counts}
	return output.Print(o.IO.Out, o.Output, res, func(w io.Writer) error {
		fmt.Fprintf(w, "dry run, nothing written: %d documents from %s\n\n%s\n", total, src.Describe(), plan.DDL())
		fmt.Fprintln(w, "COLLECTION\tDOCUMENTS")
		for _, k := range sortedKeys(counts) {
			fmt.Fprintf(w, "%s\t%d\n", k, counts[k])
		}
		return nil
	})
}
