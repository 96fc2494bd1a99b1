// Package render turns the embedded chart, a cloud profile and the user's values into the exact
// manifests that install applies, with the Helm SDK's own engine (what `helm template` runs).
package render

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartv2util "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/cli/values"
	"helm.sh/helm/v4/pkg/getter"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/charts"
)

// Defaults for the release.
const (
	DefaultRelease   = "resimate"
	DefaultNamespace = "resimate"
	// DefaultKubeVersion is the cluster version offline renderings assume: the newest this
	// release supports. Helm's own default depends on how the binary was built.
	DefaultKubeVersion = "v1.37.0"
	// ComponentLabel groups objects by platform component.
	ComponentLabel = "app.kubernetes.io/component"
)

// Options choose what to render.
type Options struct {
	Profile     string
	ValueFiles  []string // -f, applied in order after the profile
	Set         []string // --set
	SetString   []string // --set-string
	SetFile     []string // --set-file
	SetJSON     []string // --set-json
	ReleaseName string
	Namespace   string
	// KubeVersion is the cluster version the templates see (default DefaultKubeVersion).
	KubeVersion string
	// Upgrade renders as an upgrade of an installed release (.Release.IsUpgrade), which leaves
	// out what only the first install sets.
	Upgrade bool
}

// Object is one rendered Kubernetes object.
type Object struct {
	// Source is the chart template it came from.
	Source string
	// Hook is true for Helm hooks (run before or after the release's other objects).
	Hook bool
	*unstructured.Unstructured
}

// Component returns the object's platform component (its app.kubernetes.io/component label).
func (o Object) Component() string { return o.GetLabels()[ComponentLabel] }

// Result is a rendering.
type Result struct {
	Chart *chart.Chart
	// Values are the values given on top of the chart's defaults: profile, files, --set.
	Values map[string]any
	// Effective are all values the templates saw, defaults included.
	Effective common.Values
	// Manifest is the rendered YAML, hooks last, as `helm template` prints it.
	Manifest string
	// ReleaseManifest is the manifest without hooks, as Helm stores it in a release.
	ReleaseManifest string
	Objects         []Object

	release string
}

var (
	chartOnce sync.Once
	embedded  *chart.Chart
	chartErr  error
)

// Chart returns the embedded chart, loaded once.
func Chart() (*chart.Chart, error) {
	chartOnce.Do(func() { embedded, chartErr = loadChart(charts.FS, charts.ChartDir) })
	return embedded, chartErr
}

func loadChart(fsys fs.FS, dir string) (*chart.Chart, error) {
	var files []*archive.BufferedFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: strings.TrimPrefix(p, dir+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded chart: %w", err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading the embedded chart: %w", err)
	}
	return c, nil
}

// Profiles lists the profiles shipped with the charts: one values file each.
func Profiles() []string {
	entries, _ := fs.ReadDir(charts.FS, charts.ProfilesDir)
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// ProfileValues returns a profile's values overlay.
func ProfileValues(profile string) (map[string]any, error) {
	data, err := fs.ReadFile(charts.FS, path.Join(charts.ProfilesDir, profile+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("unknown profile %q: use one of %s", profile, strings.Join(Profiles(), ", "))
	}
	return loader.LoadValues(bytes.NewReader(data))
}

// Values merges the profile, then each values file, then the --set flags.
func Values(opts Options) (map[string]any, error) {
	if err := checkInputs(opts); err != nil {
		return nil, err
	}
	base, err := ProfileValues(opts.Profile)
	if err != nil {
		return nil, err
	}
	user := &values.Options{
		ValueFiles:   opts.ValueFiles,
		Values:       opts.Set,
		StringValues: opts.SetString,
		FileValues:   opts.SetFile,
		JSONValues:   opts.SetJSON,
	}
	// Only local files: values never come from URLs.
	merged, err := user.MergeValues(getter.Providers{})
	if err != nil {
		return nil, err
	}
	return loader.MergeMaps(base, merged), nil
}

// CheckValues validates vals, merged over the profile's, against the chart's schema without
// rendering: quick enough to run on every answer of the wizard.
func CheckValues(profile string, vals map[string]any) error {
	c, err := Chart()
	if err != nil {
		return err
	}
	base, err := ProfileValues(profile)
	if err != nil {
		return err
	}
	effective, err := chartutil.CoalesceValues(c, loader.MergeMaps(base, vals))
	if err != nil {
		return err
	}
	if err := chartutil.ValidateAgainstSchema(c, effective); err != nil {
		return tidyError(err)
	}
	return nil
}

// Render renders the chart for opts with Helm's engine, offline, and validates the values
// against the chart's schema (so a typo fails with the path of the mistake).
func Render(ctx context.Context, opts Options) (*Result, error) {
	c, err := Chart()
	if err != nil {
		return nil, err
	}
	vals, err := Values(opts)
	if err != nil {
		return nil, err
	}
	return RenderValues(ctx, c, vals, opts)
}

// RenderValues renders c with already merged values.
func RenderValues(ctx context.Context, c *chart.Chart, vals map[string]any, opts Options) (*Result, error) {
	install := action.NewInstall(&action.Configuration{})
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true
	install.IsUpgrade = opts.Upgrade
	install.ReleaseName = cmp.Or(opts.ReleaseName, DefaultRelease)
	install.Namespace = cmp.Or(opts.Namespace, DefaultNamespace)
	kv, err := common.ParseKubeVersion(cmp.Or(opts.KubeVersion, DefaultKubeVersion))
	if err != nil {
		return nil, fmt.Errorf("invalid kube version %q: %w", opts.KubeVersion, err)
	}
	install.KubeVersion = kv
	r, err := install.RunWithContext(ctx, c, vals)
	if err != nil {
		return nil, tidyError(err)
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("unexpected release type %T", r)
	}
	effective, err := chartutil.CoalesceValues(c, vals)
	if err != nil {
		return nil, err
	}
	res := &Result{Chart: c, Values: vals, Effective: effective, release: install.ReleaseName, ReleaseManifest: rel.Manifest}
	var manifest strings.Builder
	manifest.WriteString(strings.TrimSpace(rel.Manifest))
	manifest.WriteString("\n")
	if res.Objects, err = splitManifest(rel.Manifest, false); err != nil {
		return nil, err
	}
	for _, h := range rel.Hooks {
		fmt.Fprintf(&manifest, "---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
		objs, err := splitManifest("# Source: "+h.Path+"\n"+h.Manifest, true)
		if err != nil {
			return nil, err
		}
		res.Objects = append(res.Objects, objs...)
	}
	res.Manifest = manifest.String()
	return res, nil
}

// splitManifest parses a multi-document manifest, keeping each object's "# Source:" comment.
func splitManifest(manifest string, hook bool) ([]Object, error) {
	var out []Object
	for _, doc := range strings.Split(manifest, "\n---") {
		source := ""
		for _, line := range strings.Split(doc, "\n") {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = s
				break
			}
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("parsing rendered %s: %w", source, err)
		}
		if string(js) == "null" || string(js) == "{}" {
			continue
		}
		// Unstructured's decoder keeps integers as int64, as the API machinery expects.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("parsing rendered %s: %w", source, err)
		}
		out = append(out, Object{Source: source, Hook: hook, Unstructured: u})
	}
	return out, nil
}

// tidyError keeps Helm's schema errors (which name the path of each mistake) and drops the
// chart-name preamble that means nothing to a resimatectl user.
func tidyError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "values don't meet the specifications of the schema") || strings.Contains(msg, "\n- at ") {
		var problems []string
		for _, line := range strings.Split(msg, "\n") {
			if p, ok := strings.CutPrefix(strings.TrimSpace(line), "- at "); ok {
				problems = append(problems, "at "+p)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("invalid values: %s", strings.Join(problems, "; "))
		}
	}
	return err
}

// ValidateReleaseName says why Helm would refuse a release name, or nil.
func ValidateReleaseName(name string) error {
	if err := chartv2util.ValidateReleaseName(name); err != nil {
		return fmt.Errorf("invalid release name %q: %w", name, err)
	}
	return nil
}

// ReleaseName is the release the result was rendered for.
func (r *Result) ReleaseName() string { return r.release }

// ParseManifest splits a release's stored manifest into objects.
func ParseManifest(manifest string) ([]Object, error) { return splitManifest(manifest, false) }
