package preflight

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resimate/resimatectl/internal/render"
)

func fakeTarget() *Target {
	return &Target{Profile: "local", Namespace: "ns", Rendered: &render.Result{}}
}

func TestFatalFailureSkipsDependantsOnly(t *testing.T) {
	var ran atomic.Int32
	run := func(o Outcome) func(context.Context, *Target) Outcome {
		return func(context.Context, *Target) Outcome { ran.Add(1); return o }
	}
	checks := []*Check{
		{ID: "root", Severity: Fatal, Run: run(Failf("down"))},
		{ID: "child", Severity: Fail, DependsOn: []string{"root"}, Run: run(Passf("ok"))},
		{ID: "grandchild", Severity: Fail, DependsOn: []string{"child"}, Run: run(Passf("ok"))},
		{ID: "soft", Severity: Fail, Run: run(Failf("bad"))},
		{ID: "after-soft", Severity: Warn, DependsOn: []string{"soft"}, Run: run(Failf("meh"))},
		{ID: "free", Severity: Fail, Run: run(Passf("fine"))},
	}
	rep, err := (&Runner{Checks: checks}).Run(context.Background(), fakeTarget())
	require.NoError(t, err)
	got := map[string]Result{}
	for _, r := range rep.Results {
		got[r.ID] = r
	}
	assert.Equal(t, StatusFail, got["root"].Status)
	assert.Equal(t, "skipped because root failed", got["child"].Message)
	assert.Equal(t, "skipped because child failed", got["grandchild"].Message)
	assert.Equal(t, StatusWarn, got["after-soft"].Status, "a non-fatal failure does not skip; a warn check's failure is a warning")
	assert.Equal(t, StatusPass, got["free"].Status)
	assert.EqualValues(t, 4, ran.Load())
	assert.Equal(t, Summary{Passed: 1, Warnings: 1, Failed: 2, Skipped: 2}, rep.Summary)
	assert.False(t, rep.OK)
}

func TestIndependentChecksRunConcurrently(t *testing.T) {
	// Each check passes only once all five are running at the same time: run one after the
	// other, the first would wait for the others in vain and fail when the context ends.
	var started sync.WaitGroup
	started.Add(5)
	allRunning := make(chan struct{})
	go func() { started.Wait(); close(allRunning) }()
	together := func(ctx context.Context, _ *Target) Outcome {
		started.Done()
		select {
		case <-allRunning:
			return Passf("")
		case <-ctx.Done():
			return Failf("ran alone")
		}
	}
	var checks []*Check
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		checks = append(checks, &Check{ID: id, Severity: Fail, Run: together})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := (&Runner{Checks: checks}).Run(ctx, fakeTarget())
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Summary.Passed)
}

func TestIgnoreTurnsAFailureIntoAWarning(t *testing.T) {
	checks := []*Check{{ID: "x", Severity: Fail, Hint: "do y", Run: func(context.Context, *Target) Outcome { return Failf("broken") }}}
	rep, err := (&Runner{Checks: checks, Ignore: map[string]bool{"x": true}}).Run(context.Background(), fakeTarget())
	require.NoError(t, err)
	r := rep.Results[0]
	assert.Equal(t, StatusWarn, r.Status)
	assert.True(t, r.Ignored)
	assert.Equal(t, "broken (ignored: --ignore-checks x)", r.Message)
	assert.Equal(t, "do y", r.Hint)
	assert.True(t, rep.OK)
}

func TestCheckDefinitionsAreSound(t *testing.T) {
	checks := Checks()
	require.NoError(t, Validate(checks))
	assert.GreaterOrEqual(t, len(checks), 20)
	for _, c := range checks {
		assert.NotEmpty(t, c.Hint, c.ID)
		assert.NotEmpty(t, c.Docs, c.ID)
		assert.NotEmpty(t, c.Category, c.ID)
	}
	docs, err := os.ReadFile("../../docs/preflight.md")
	require.NoError(t, err)
	for _, c := range checks {
		assert.Contains(t, string(docs), "\n## "+c.Docs+"\n", "docs/preflight.md has no section for %s", c.ID)
	}
	assert.ErrorContains(t, Validate([]*Check{{ID: "a", DependsOn: []string{"b"}}, {ID: "b", DependsOn: []string{"a"}}}), "circle")
	assert.ErrorContains(t, Validate([]*Check{{ID: "a", DependsOn: []string{"zz"}}}), "unknown check")
}
