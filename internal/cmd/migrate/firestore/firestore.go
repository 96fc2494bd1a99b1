// Package firestore implements `resimatectl migrate firebase firestore` and its verify.
package firestore

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
	"github.com/resimate/resimatectl/internal/migrate"
	fs "github.com/resimate/resimatectl/internal/migrate/firestore"
	"github.com/resimate/resimatectl/internal/output"
	"github.com/resimate/resimatectl/internal/ui"
)

// Options are the inputs of `migrate firebase firestore` and its verify.
type Options struct {
	IO              *iostreams.IOStreams
	Factory         *cmdutil.Factory
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

// NewCmdFirestore returns `resimatectl migrate firebase firestore`; runF replaces the run
// function in tests.
func NewCmdFirestore(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Factory: f}
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
  export RESIMATE_DATABASE_URL=postgres://migrator:...@db:5432/resimate
  resimatectl migrate firebase firestore --from-export gs://backups/2026-11-01 --mapping mapping.yaml --tenant acme
  resimatectl migrate firebase firestore verify --from-export gs://backups/2026-11-01 --mapping mapping.yaml --tenant acme`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runFirestore(cmd.Context(), opts)
		},
	}
	addFirestoreFlags(cmd, opts)
	fl := cmd.Flags()
	cmdutil.PositiveIntVar(cmd, &opts.BatchSize, "batch-size", 5000, "Documents per COPY batch (and per checkpoint)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Read every document and print the DDL and per-collection counts, writing nothing")
	fl.BoolVar(&opts.SchemaOnly, "schema-only", false, "Print the DDL the mapping makes and exit (needs no source or database)")
	fl.BoolVar(&opts.GenerateMapping, "generate-mapping", false, "Sample the source and print a starting mapping (YAML) with inferred types")
	fl.IntVar(&opts.Sample, "sample", 10000, "Documents --generate-mapping reads (0: all)")
	cmd.AddCommand(newCmdVerify(f, runF))
	return cmd
}

func addFirestoreFlags(cmd *cobra.Command, opts *Options) {
	fl := cmd.Flags()
	fl.StringVar(&opts.Project, "project", "", "Firestore project to read live (default $GOOGLE_CLOUD_PROJECT; honours FIRESTORE_EMULATOR_HOST)")
	fl.StringVar(&opts.Credentials, "credentials", "", "Service-account key file (default: the usual Google credentials)")
	fl.StringVar(&opts.FromExport, "from-export", "", "Read a managed export folder (local path or gs://bucket/folder) instead of the live project")
	fl.StringVar(&opts.FromNDJSON, "from-ndjson", "", "Read documents from an NDJSON file instead of the live project")
	fl.StringVar(&opts.Tenant, "tenant", "resimate_main", "Tenant whose schema (tenant_<name>) receives the documents")
	fl.StringVar(&opts.DatabaseURL, "database-url", "", "PostgreSQL URL of the platform database (also RESIMATE_DATABASE_URL)")
	cmdutil.PositiveIntVar(cmd, &opts.PageSize, "page-size", 1000, "Live source: documents per query page (bigger pages, fewer round trips, more memory)")
	fl.StringVar(&opts.MappingFile, "mapping", "", "Mapping file (YAML) of collections to typed tables (default: every document in firestore_documents)")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	cmdutil.MarkSecret(cmd, "database-url")
}

// plan reads the mapping and compiles it for the tenant's schema.
func (o *Options) plan() (*fs.Plan, error) {
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

// source opens the one source the flags name; key names it in the checkpoint table: a file or
// an export by its content, so that another one at the same place is another source.
func (o *Options) source(ctx context.Context) (src fs.Source, key string, err error) {
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
		digest, err := migrate.FileDigest(o.FromNDJSON)
		if err != nil {
			return nil, "", err
		}
		return &fs.NDJSONSource{Path: o.FromNDJSON}, "ndjson " + digest, nil
	case strings.HasPrefix(o.FromExport, "gs://"):
		client, err := storage.NewClient(ctx, migrate.GoogleOptions(o.Credentials, "STORAGE_EMULATOR_HOST")...)
		if err != nil {
			return nil, "", fmt.Errorf("opening Cloud Storage: %w", err)
		}
		files, err := gcsfs.New(ctx, client, o.FromExport)
		if err != nil {
			return nil, "", &cmdutil.FlagError{Err: err}
		}
		return exportSource(&fs.ExportSource{Files: files, Name: o.FromExport})
	case o.FromExport != "":
		if st, err := os.Stat(o.FromExport); err != nil || !st.IsDir() {
			return nil, "", fmt.Errorf("--from-export %s: not a folder", o.FromExport)
		}
		return exportSource(&fs.ExportSource{Files: os.DirFS(o.FromExport), Name: o.FromExport})
	}
	client, err := fs.NewLiveClient(ctx, migrate.GoogleOptions(o.Credentials, "FIRESTORE_EMULATOR_HOST")...)
	if err != nil {
		return nil, "", fmt.Errorf("opening Firestore of %s: %w", o.Project, err)
	}
	return &fs.LiveSource{Client: client, Project: o.Project, PageSize: o.PageSize}, "project:" + o.Project, nil
}

// exportSource keys an export by what it holds, not where it is.
func exportSource(src *fs.ExportSource) (fs.Source, string, error) {
	fingerprint, err := src.Fingerprint()
	if err != nil {
		return nil, "", err
	}
	return src, "export " + fingerprint, nil
}

func (o *Options) database(ctx context.Context) (*pgxpool.Pool, error) {
	if o.DatabaseURL == "" {
		return nil, cmdutil.FlagErrorf("--database-url is required")
	}
	return o.Factory.Postgres(ctx, o.DatabaseURL)
}

// runFirestore loads and prints what it did.
func runFirestore(ctx context.Context, o *Options) error {
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
	defer o.Factory.ClosePools()
	// The checkpoint belongs to a source and a mapping: a changed mapping loads everything again.
	l := &fs.Loader{Pool: pool, Plan: plan, SourceKey: key + " mapping:" + plan.Fingerprint(), BatchSize: o.BatchSize}
	start := time.Now()
	progress := ui.NewProgress(o.IO.ErrOut, o.IO.IsStderrTTY(), "documents")
	l.Progress = func(done int64, group string) { progress.Update(done, 0, "now in "+group) }
	st, err := l.Load(ctx, src)
	progress.Done()
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

func generateMapping(ctx context.Context, o *Options, src fs.Source) error {
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

// dryRunFirestore reads the whole source (so every document is parsed and encoded) and prints
// the DDL and the counts per collection group; nothing is written.
func dryRunFirestore(ctx context.Context, o *Options, src fs.Source, plan *fs.Plan) error {
	counts := map[string]int{}
	total := 0
	err := fs.UniquePaths(src).Documents(ctx, func(d fs.Document) error {
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
