package testenv

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/strvals"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/resimate/resimatectl/internal/helm"
	"github.com/resimate/resimatectl/internal/kube"
	"github.com/resimate/resimatectl/internal/upstream"
)

// UpstreamSet are the --set values every test that installs upstream charts gives, so that all
// of them agree on the cluster's shared upstream releases: kwok runs no operator pods, so
// nothing would answer the operators' admission webhooks.
var UpstreamSet = []string{
	"upstreamValues.cloudnative-pg.webhook.mutating.create=false",
	"upstreamValues.cloudnative-pg.webhook.validating.create=false",
	"upstreamValues.kube-prometheus-stack.prometheusOperator.admissionWebhooks.enabled=false",
}

// upstreamFor are the values that enable the upstream chart bringing each CRD group.
var upstreamFor = map[string]map[string]any{
	CRDsCNPG:       {"postgres": map[string]any{"mode": "operator"}},
	CRDsPrometheus: {"monitoring": map[string]any{"enabled": true}},
}

// MirrorSource is the charts mirror as install's source: --charts-dir with its own
// --charts-digests, as a site that repackaged the charts would give them.
func MirrorSource(t testing.TB) upstream.Source {
	t.Helper()
	dir, sums := ChartsMirror(t)
	digests, err := upstream.ReadDigests(sums)
	if err != nil {
		t.Fatal(err)
	}
	return upstream.Source{Dir: dir, Digests: digests, DigestsFile: sums}
}

// ensured holds the CRD groups whose upstream releases this process has seen installed.
var ensured sync.Map

// ensureUpstream installs, from the charts mirror, the upstream releases that bring groups,
// the way install does (shared by every test on the cluster; a release already there is left
// alone), once per process and group.
func ensureUpstream(t testing.TB, groups []string) {
	t.Helper()
	values := map[string]any{upstream.SiteValuesKey: upstreamSiteValues(t)}
	for _, g := range groups {
		if _, done := ensured.Load(g); done {
			continue
		}
		for k, v := range upstreamFor[g] {
			values[k] = v
		}
	}
	needed, err := upstream.Needed(values)
	if err != nil {
		t.Fatal(err)
	}
	if len(needed) == 0 {
		return
	}
	e := Require(t, Kubernetes)
	loaded, err := upstream.LoadAll(needed, MirrorSource(t))
	if err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &e.Kubeconfig
	set, err := kube.NewClients(flags).Get()
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := &upstream.Installer{Kube: set, User: "testenv", Timeout: 5 * time.Minute, LockTTL: 10 * time.Second,
		Helm:     func(ns string) (*helm.Helm, error) { return helm.New(flags, ns, logger) },
		Progress: func(m string) { t.Log(m) }}
	if err := in.Install(context.Background(), needed, loaded); err != nil {
		t.Fatalf("installing the upstream charts the tests need: %v", err)
	}
	for _, g := range groups {
		ensured.Store(g, true)
	}
}

// upstreamSiteValues is UpstreamSet as the values' upstreamValues map.
func upstreamSiteValues(t testing.TB) map[string]any {
	values := map[string]any{}
	for _, s := range UpstreamSet {
		if err := strvals.ParseInto(s, values); err != nil {
			t.Fatal(err)
		}
	}
	return values[upstream.SiteValuesKey].(map[string]any)
}
