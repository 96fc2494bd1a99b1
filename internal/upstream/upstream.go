// Package upstream installs the pinned third-party platform charts (charts/upstream.yaml) that
// the values need: operators, monitoring, logging.
package upstream

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/cli"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/charts"
	"github.com/resimate/resimatectl/internal/errtext"
	"github.com/resimate/resimatectl/internal/helm"
)

// Chart is a pinned platform chart from charts/upstream.yaml.
type Chart struct {
	Name       string         `json:"name"`
	Repository string         `json:"repository"`
	Chart      string         `json:"chart"`
	Version    string         `json:"version"`
	Namespace  string         `json:"namespace"`
	When       string         `json:"when"`
	Values     map[string]any `json:"values"`
}

// Pinned reads the pins.
func Pinned() ([]Chart, error) {
	data, err := fs.ReadFile(charts.FS, "upstream.yaml")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Charts []Chart `json:"charts"`
	}
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("charts/upstream.yaml: %w", err)
	}
	return doc.Charts, nil
}

// Needed reports whether the values enable the chart: "a.b" is true, or "a.b=value".
func (u Chart) Needed(values map[string]any) bool {
	path, want, hasValue := strings.Cut(u.When, "=")
	v, _, _ := unstructured.NestedFieldNoCopy(values, strings.Split(path, ".")...)
	if hasValue {
		return fmt.Sprint(v) == want
	}
	b, _ := v.(bool)
	return b
}

// Load finds the chart: <chartsDir>/<chart>-<version>.tgz when a folder is given (air-gapped
// sites), otherwise its pinned repository. The error says which chart and where it looked.
func (u Chart) Load(chartsDir string) (*chart.Chart, error) {
	if chartsDir != "" {
		p := filepath.Join(chartsDir, fmt.Sprintf("%s-%s.tgz", u.Chart, u.Version))
		c, err := loader.Load(p)
		if err != nil {
			return nil, fmt.Errorf("upstream chart %s %s not found: looked for %s (--charts-dir): %v", u.Chart, u.Version, p, errtext.FirstLine(err))
		}
		return c, nil
	}
	opts := action.ChartPathOptions{RepoURL: u.Repository, Version: u.Version}
	settings := cli.New()
	p, err := opts.LocateChart(u.Chart, settings)
	if err != nil {
		return nil, fmt.Errorf("upstream chart %s %s not found: looked in %s (%v); for an air-gapped site download it there and pass --charts-dir", u.Chart, u.Version, u.Repository, errtext.FirstLine(err))
	}
	return loader.Load(p)
}

// InstallAll installs or upgrades every needed upstream chart, in parallel (they do not
// depend on each other), each as its own release in its own namespace.
func InstallAll(ctx context.Context, needed []Chart, chartsDir string, helmFor func(ns string) (*helm.Helm, error), timeout time.Duration, progress func(string)) error {
	var wg sync.WaitGroup
	errs := make([]error, len(needed))
	for i, u := range needed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = installOne(ctx, u, chartsDir, helmFor, timeout, progress)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func installOne(ctx context.Context, u Chart, chartsDir string, helmFor func(string) (*helm.Helm, error), timeout time.Duration, progress func(string)) error {
	c, err := u.Load(chartsDir)
	if err != nil {
		return err
	}
	h, err := helmFor(u.Namespace)
	if err != nil {
		return err
	}
	latest, err := h.Latest(u.Name)
	if err != nil {
		return err
	}
	progress(fmt.Sprintf("upstream %s %s: installing into %s", u.Chart, u.Version, u.Namespace))
	if latest == nil {
		_, err = h.Install(ctx, u.Name, c, u.Values, timeout)
	} else {
		_, err = h.Upgrade(ctx, u.Name, c, u.Values, timeout)
	}
	if err != nil {
		return fmt.Errorf("upstream chart %s: %w", u.Name, err)
	}
	progress(fmt.Sprintf("upstream %s %s: ready", u.Chart, u.Version))
	return nil
}
