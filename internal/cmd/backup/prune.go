package backup

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/resimate/resimatectl/internal/backup"
	"github.com/resimate/resimatectl/internal/cmdutil"
	"github.com/resimate/resimatectl/internal/iostreams"
	"github.com/resimate/resimatectl/internal/output"
)

// PruneOptions are the inputs of `backup prune`.
type PruneOptions struct {
	IO        *iostreams.IOStreams
	Store     StoreOptions
	Retention time.Duration
	Stale     time.Duration
	DryRun    bool
	Output    string
}

// NewCmdPrune returns `resimatectl backup prune`; runF replaces the run function in tests.
func NewCmdPrune(f *cmdutil.Factory, runF func(context.Context, *PruneOptions) error) *cobra.Command {
	opts := &PruneOptions{IO: f.IOStreams}
	var retention, stale string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove sets older than the retention, and abandoned incomplete sets",
		Long: `Remove every complete set created longer ago than --retention, except the newest complete
set, which is always kept; and every incomplete set (a backup that never finished) begun longer
ago than --incomplete-after. Each set's completion marker goes first, so a set half removed is
never taken for complete.`,
		Example: `  resimatectl backup prune --store s3://acme-backups --retention 14d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Retention, err = ParseRetention(retention); err != nil {
				return cmdutil.FlagErrorf("--retention: %v", err)
			}
			if opts.Stale, err = ParseRetention(stale); err != nil {
				return cmdutil.FlagErrorf("--incomplete-after: %v", err)
			}
			if err := output.Validate(opts.Output); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runPrune(cmd.Context(), opts)
		},
	}
	addStoreFlag(cmd, &opts.Store, "from")
	cmd.Flags().StringVar(&retention, "retention", "14d", "How long complete sets are kept: days (14d) or a duration (36h)")
	cmd.Flags().StringVar(&stale, "incomplete-after", "1d", "Age after which an incomplete set is abandoned")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "List what would be removed, remove nothing")
	cmdutil.AddOutputFlag(cmd, &opts.Output)
	return cmd
}

// ParseRetention reads "14d" (days) or a Go duration; it must be positive.
func ParseRetention(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is neither days (14d) nor a duration (36h)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}

func runPrune(ctx context.Context, opts *PruneOptions) error {
	store, err := opts.Store.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	var removed []backup.Entry
	if opts.DryRun {
		sets, err := store.List(ctx)
		if err != nil {
			return err
		}
		removed = backup.Expired(sets, time.Now(), opts.Retention, opts.Stale)
	} else if removed, err = backup.Prune(ctx, store, time.Now(), opts.Retention, opts.Stale); err != nil {
		return err
	}
	if removed == nil {
		removed = []backup.Entry{}
	}
	verb := "Removed"
	if opts.DryRun {
		verb = "Would remove"
	}
	return output.Print(opts.IO.Out, opts.Output, removed, func(w io.Writer) error {
		for _, e := range removed {
			state := "complete"
			if e.Incomplete {
				state = "incomplete"
			}
			fmt.Fprintf(w, "%s %s (%s)\n", verb, e.ID, state)
		}
		fmt.Fprintf(w, "%s %d set(s).\n", verb, len(removed))
		return nil
	})
}
