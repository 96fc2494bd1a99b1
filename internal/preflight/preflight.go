// Package preflight checks, before anything is installed, whether a cluster (and the external
// services a profile names) can run the platform. Checks are data (see checks.go): each has an
// id, a category, a severity, the checks it depends on, a hint and a docs anchor. Independent
// checks run concurrently; a failed fatal check skips its dependants.
package preflight

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/upstream"
)

// Severity says what a failing check means.
type Severity string

const (
	// Fatal: nothing that depends on it can be checked (no API server, say).
	Fatal Severity = "fatal"
	// Fail: the install would fail or the platform would not work.
	Fail Severity = "fail"
	// Warn: worth knowing; the install can go on.
	Warn Severity = "warn"
)

// Status is the outcome of one check.
type Status string

const (
	StatusPass Status = "pass"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Outcome is what a check's Run returns.
type Outcome struct {
	// Status is pass, warn or fail (a fail of a Warn-severity check is reported as warn).
	Status Status
	// Message says what was found, with the numbers or names involved.
	Message string
	// Details lists items (missing permissions, say), one per line.
	Details []string
}

// Passf, Warnf and Failf build outcomes.
func Passf(format string, a ...any) Outcome {
	return Outcome{Status: StatusPass, Message: fmt.Sprintf(format, a...)}
}
func Warnf(format string, a ...any) Outcome {
	return Outcome{Status: StatusWarn, Message: fmt.Sprintf(format, a...)}
}
func Failf(format string, a ...any) Outcome {
	return Outcome{Status: StatusFail, Message: fmt.Sprintf(format, a...)}
}

// Check is one preflight check, as data.
type Check struct {
	ID          string
	Category    string
	Description string
	Severity    Severity
	DependsOn   []string
	// Hint says how to fix a failure.
	Hint string
	// Docs is the anchor of the check's section in docs/preflight.md.
	Docs string
	// Applies reports whether the check is relevant for these values (nil: always).
	Applies func(*Target) (bool, string)
	Run     func(context.Context, *Target) Outcome
}

// Result is one check's entry in a report; its JSON form is part of the stable schema
// (docs/preflight.schema.json).
type Result struct {
	ID          string   `json:"id"`
	Category    string   `json:"category"`
	Description string   `json:"description"`
	Severity    Severity `json:"severity"`
	Status      Status   `json:"status"`
	Message     string   `json:"message"`
	Details     []string `json:"details,omitempty"`
	Hint        string   `json:"hint,omitempty"`
	Docs        string   `json:"docs"`
	// Ignored is true when --ignore-checks turned this check's failure into a warning.
	Ignored    bool  `json:"ignored,omitempty"`
	DurationMS int64 `json:"durationMs"`
}

// Summary counts results by status.
type Summary struct {
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

// Report is the outcome of a run.
type Report struct {
	APIVersion string   `json:"apiVersion"`
	Profile    string   `json:"profile"`
	Namespace  string   `json:"namespace"`
	Results    []Result `json:"checks"`
	Summary    Summary  `json:"summary"`
	OK         bool     `json:"ok"`
	DurationMS int64    `json:"durationMs"`
}

// ReportAPIVersion versions the JSON report.
const ReportAPIVersion = "preflight.resimate.io/v1"

// Observer is told when each check starts and ends (for live output).
type Observer interface {
	Started(c *Check)
	Finished(r Result)
}

// Runner runs checks against a target.
type Runner struct {
	Checks []*Check
	// Ignore lists check ids whose failures become warnings.
	Ignore map[string]bool
	// Observer, when set, sees progress.
	Observer Observer
}

// Validate reports checks with unknown or circular dependencies: a programming error.
func Validate(checks []*Check) error {
	byID := map[string]*Check{}
	for _, c := range checks {
		if _, dup := byID[c.ID]; dup {
			return fmt.Errorf("check %q defined twice", c.ID)
		}
		byID[c.ID] = c
	}
	state := map[string]int{}
	var visit func(id string) error
	visit = func(id string) error {
		switch state[id] {
		case 1:
			return fmt.Errorf("checks depend on each other in a circle through %q", id)
		case 2:
			return nil
		}
		state[id] = 1
		for _, d := range byID[id].DependsOn {
			if byID[d] == nil {
				return fmt.Errorf("check %q depends on unknown check %q", id, d)
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		state[id] = 2
		return nil
	}
	for _, c := range checks {
		if err := visit(c.ID); err != nil {
			return err
		}
	}
	return nil
}

// Run runs every check, each as soon as its dependencies are done, and returns the report in
// the checks' order.
func (r *Runner) Run(ctx context.Context, t *Target) (*Report, error) {
	if err := Validate(r.Checks); err != nil {
		return nil, err
	}
	start := time.Now()
	done := map[string]chan struct{}{}
	results := make([]Result, len(r.Checks))
	index := map[string]int{}
	for i, c := range r.Checks {
		done[c.ID] = make(chan struct{})
		index[c.ID] = i
	}
	var mu sync.Mutex // guards results read by dependants
	var wg sync.WaitGroup
	for i, c := range r.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[c.ID])
			for _, d := range c.DependsOn {
				<-done[d]
			}
			mu.Lock()
			blocker := ""
			for _, d := range c.DependsOn {
				dr := results[index[d]]
				if dr.Status == StatusSkip || (dr.Status == StatusFail && dr.Severity == Fatal) {
					blocker = d
					break
				}
			}
			mu.Unlock()
			res := r.runOne(ctx, c, t, blocker)
			mu.Lock()
			results[i] = res
			mu.Unlock()
			if r.Observer != nil {
				r.Observer.Finished(res)
			}
		}()
	}
	wg.Wait()
	rep := &Report{APIVersion: ReportAPIVersion, Profile: t.Profile, Namespace: t.Namespace, Results: results}
	for _, res := range results {
		switch res.Status {
		case StatusPass:
			rep.Summary.Passed++
		case StatusWarn:
			rep.Summary.Warnings++
		case StatusFail:
			rep.Summary.Failed++
		case StatusSkip:
			rep.Summary.Skipped++
		}
	}
	rep.OK = rep.Summary.Failed == 0
	rep.DurationMS = time.Since(start).Milliseconds()
	return rep, nil
}

func (r *Runner) runOne(ctx context.Context, c *Check, t *Target, blocker string) Result {
	res := Result{ID: c.ID, Category: c.Category, Description: c.Description, Severity: c.Severity, Docs: "docs/preflight.md#" + c.Docs}
	if blocker != "" {
		res.Status, res.Message = StatusSkip, fmt.Sprintf("skipped because %s failed", blocker)
		return res
	}
	if c.Applies != nil {
		if ok, why := c.Applies(t); !ok {
			res.Status, res.Message = StatusSkip, why
			return res
		}
	}
	if r.Observer != nil {
		r.Observer.Started(c)
	}
	start := time.Now()
	out := safeRun(ctx, c, t)
	res.DurationMS = time.Since(start).Milliseconds()
	res.Status, res.Message, res.Details = out.Status, out.Message, out.Details
	if res.Status == StatusFail && c.Severity == Warn {
		res.Status = StatusWarn
	}
	if res.Status == StatusFail && r.Ignore[c.ID] {
		res.Status, res.Ignored = StatusWarn, true
		res.Message += " (ignored: --ignore-checks " + c.ID + ")"
	}
	if res.Status != StatusPass {
		res.Hint = c.Hint
	}
	return res
}

// safeRun turns a panicking check into a failure instead of taking the whole run down.
func safeRun(ctx context.Context, c *Check, t *Target) (out Outcome) {
	defer func() {
		if p := recover(); p != nil {
			out = Failf("internal error in check %s: %v", c.ID, p)
		}
	}()
	return c.Run(ctx, t)
}

// IDs returns the ids of checks, sorted, for flag validation and help.
func IDs(checks []*Check) []string {
	ids := make([]string, 0, len(checks))
	for _, c := range checks {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	return ids
}

// Params are what one preflight run is asked, from the flags preflight and install share.
type Params struct {
	Profile   string
	Namespace string
	// Ignore lists check ids whose failures become warnings.
	Ignore []string
	// Offline skips the checks that reach the internet.
	Offline bool
	// PostgresURL is the admin URL of an external PostgreSQL (a secret).
	PostgresURL string
	// SkipUpstream: install will not bring the upstream charts, so their CRDs must exist already.
	SkipUpstream bool
	// Only, when set, runs just these checks: the wizard's connection tests run the external
	// ones in place. They must not depend on others.
	Only []string
}

// ValidateIgnore reports an --ignore-checks id that names no check: a typo there would
// otherwise silently ignore nothing.
func ValidateIgnore(ids []string) error {
	known := IDs(Checks())
	for _, id := range ids {
		if !slices.Contains(known, id) {
			return fmt.Errorf("--ignore-checks: unknown check %q: use any of %s", id, strings.Join(known, ", "))
		}
	}
	return nil
}

// Evaluate runs every check for p against the rendered chart and the cluster cfg points at (nil,
// with cfgErr saying why, when no kubeconfig could be loaded). It is the one runner behind both
// preflight and install; observer (may be nil) sees each check start and end.
func Evaluate(ctx context.Context, cfg *rest.Config, cfgErr error, rendered *render.Result, p Params, observer Observer) (*Report, error) {
	t, err := NewTarget(cfg, cfgErr, rendered)
	if err != nil {
		return nil, err
	}
	t.Profile, t.Namespace, t.Release = p.Profile, p.Namespace, rendered.ReleaseName()
	t.Offline, t.PostgresURL = p.Offline, p.PostgresURL
	if !p.SkipUpstream {
		needed, err := upstream.Needed(rendered.Effective)
		if err != nil {
			return nil, err
		}
		t.Brought = upstream.Brought(needed)
	}
	checks := Checks()
	if len(p.Only) > 0 {
		checks = slices.DeleteFunc(checks, func(c *Check) bool { return !slices.Contains(p.Only, c.ID) })
	}
	runner := &Runner{Checks: checks, Ignore: map[string]bool{}, Observer: observer}
	for _, id := range p.Ignore {
		runner.Ignore[id] = true
	}
	return runner.Run(ctx, t)
}

// Failures lists the failed checks as "id: message".
func (rep *Report) Failures() []string {
	var failed []string
	for _, r := range rep.Results {
		if r.Status == StatusFail {
			failed = append(failed, r.ID+": "+r.Message)
		}
	}
	return failed
}
