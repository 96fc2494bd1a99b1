package backup

import (
	"context"
	"fmt"
	"io"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/buildinfo"
	"github.com/resimate/resimatectl/internal/cmd/shared"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
)

// ScheduleOptions are the inputs of `backup schedule`.
type ScheduleOptions struct {
	IO       *iostreams.IOStreams
	Factory  *cmdutil.Factory
	Store    StoreOptions
	Schedule backup.Schedule
	DryRun   bool
}

// NewCmdSchedule returns `resimatectl backup schedule`; runF replaces the run function in tests.
func NewCmdSchedule(f *cmdutil.Factory, runF func(context.Context, *ScheduleOptions) error) *cobra.Command {
	opts := &ScheduleOptions{IO: f.IOStreams, Factory: f}
	s := &opts.Schedule
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Back up from inside the cluster on a schedule, then prune",
		Long: `Create (or update) a CronJob in the release's namespace that runs resimatectl's image: backup
create into the store, then backup prune with the retention. It runs under its own
ServiceAccount, whose Role allows only what a backup of this release reads, in this namespace
(no cluster-wide right), and a NetworkPolicy lets it reach the API server, the database, Vault
and the store. The store's credentials come from --store-secret (its keys become environment
variables: AWS_*, AZURE_STORAGE_*, GOOGLE_APPLICATION_CREDENTIALS...); Vault is backed up when
--vault-token-secret names a Secret holding a token under "token".`,
		Example: `  resimatectl backup schedule --cron "0 2 * * *" --retention 14d --to s3://acme-backups?region=eu-west-1 \
    -r age1… --store-secret backup-store-credentials`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := cron.ParseStandard(s.Cron); err != nil {
				return cmdutil.FlagErrorf("--cron %q: %v", s.Cron, err)
			}
			if _, err := ParseRetention(s.Retention); err != nil {
				return cmdutil.FlagErrorf("--retention: %v", err)
			}
			if opts.Store.URL == "" {
				return cmdutil.FlagErrorf("--to (or RESIMATE_STORE) is required: where the CronJob writes sets")
			}
			if _, err := backup.SealTo(s.Recipients, ""); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if s.Image == "" {
				return cmdutil.FlagErrorf("--image is required with a development build (this resimatectl has no released image)")
			}
			ns, err := shared.CompleteRelease(f, s.Release)
			if err != nil {
				return err
			}
			s.Namespace, s.Store = ns, opts.Store.URL
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSchedule(cmd.Context(), opts)
		},
	}
	addStoreFlag(cmd, &opts.Store, "to")
	shared.AddReleaseFlag(cmd, &s.Release)
	fl := cmd.Flags()
	fl.StringVar(&s.Cron, "cron", "", "When to back up, as a cron schedule (\"0 2 * * *\": 02:00 every day, the cluster's time zone)")
	fl.StringVar(&s.Retention, "retention", "14d", "How long sets are kept: days (14d) or a duration (36h)")
	fl.StringArrayVarP(&s.Recipients, "recipient", "r", nil, "age or SSH public key the sets are encrypted to (repeatable; the private keys stay off the cluster)")
	fl.StringVar(&s.Image, "image", defaultImage(), "resimatectl's container image the CronJob runs")
	fl.StringVar(&s.StoreSecret, "store-secret", "", "Secret whose keys are the store's credentials, as environment variables")
	fl.StringVar(&s.VaultTokenSecret, "vault-token-secret", "", "Secret holding a Vault token (key \"token\") that may take Raft snapshots")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Print the objects as YAML instead of applying them")
	return cmd
}

// defaultImage is this release's image; a development build has none.
func defaultImage() string {
	if buildinfo.Version == "dev" {
		return ""
	}
	return "ghcr.io/resimate/resimatectl:" + buildinfo.Version
}

func runSchedule(ctx context.Context, opts *ScheduleOptions) error {
	objects := opts.Schedule.Objects()
	if opts.DryRun {
		return printObjects(opts.IO.Out, objects)
	}
	set, err := opts.Factory.Kube.Get()
	if err != nil {
		return err
	}
	for _, obj := range objects {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		o := &unstructured.Unstructured{Object: u}
		mapping, err := set.Mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			return err
		}
		data, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		_, err = set.Dynamic.Resource(mapping.Resource).Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), "application/apply-patch+yaml", data,
			metav1.PatchOptions{FieldManager: "resimatectl", Force: ptr.To(true)})
		if err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		fmt.Fprintf(opts.IO.Out, "%s/%s applied\n", o.GetKind(), o.GetName())
	}
	s := opts.Schedule
	fmt.Fprintf(opts.IO.Out, "Backups of %s/%s run at %q into %s, kept %s (CronJob %s).\n", s.Namespace, s.Release, s.Cron, s.Store, s.Retention, s.Name())
	return nil
}

func printObjects(w io.Writer, objects []runtime.Object) error {
	for _, obj := range objects {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "---\n%s", b)
	}
	return nil
}
