// Package upstream installs the pinned third-party platform charts (charts/upstream.yaml) that
// the values need: operators, monitoring, logging.
package upstream

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/resimate/resimatectl/charts"
)

// Chart is a pinned platform chart from charts/upstream.yaml.
type Chart struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	Chart      string `json:"chart"`
	Version    string `json:"version"`
	// Digest is the SHA-256 (hex) of the archive its repository publishes.
	Digest    string `json:"digest"`
	Namespace string `json:"namespace"`
	// PodSecurity is the PodSecurity level its namespace enforces.
	PodSecurity string `json:"podSecurity"`
	When        string `json:"when"`
	// Brings are the CRDs that exist once the chart and its Objects are Ready.
	Brings []string `json:"brings"`
	// Objects are applied once the chart is Ready.
	Objects []map[string]any `json:"objects"`
	Values  map[string]any   `json:"values"`
	// Registry moves the chart's images to a mirror (RegistryPlaceholder stands for it).
	Registry *Registry `json:"registry"`
	// RuntimeImages are run by the chart's operator but named by no manifest.
	RuntimeImages []string `json:"runtimeImages"`
}

// Registry holds the values, and the fields of each of Objects, that point a chart's images at
// a mirror.
type Registry struct {
	Values  map[string]any   `json:"values"`
	Objects []map[string]any `json:"objects"`
}

// RegistryPlaceholder stands for the mirror (global.imageRegistry) in Registry.
const RegistryPlaceholder = "${REGISTRY}"

// SiteValuesKey is the Resimate values' key under which a site adds to an upstream chart's
// values, by the chart's name.
const SiteValuesKey = "upstreamValues"

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
	for _, c := range doc.Charts {
		if !isSHA256(c.Digest) || c.Namespace == "" || c.PodSecurity == "" {
			return nil, fmt.Errorf("charts/upstream.yaml: %s needs a SHA-256 digest, a namespace and a podSecurity level", c.Name)
		}
	}
	return doc.Charts, nil
}

// Needed returns the pinned charts the values enable, each with the site's values
// (upstreamValues.<name>) merged over the pinned ones.
func Needed(values map[string]any) ([]Chart, error) {
	all, err := Pinned()
	if err != nil {
		return nil, err
	}
	site, _, _ := unstructured.NestedMap(values, SiteValuesKey)
	mirror, _, _ := unstructured.NestedString(values, "global", "imageRegistry")
	var needed []Chart
	for _, u := range all {
		if !u.enabledBy(values) {
			continue
		}
		if mirror != "" && u.Registry != nil {
			u = u.mirrored(strings.TrimSuffix(mirror, "/"))
		}
		if own, ok := site[u.Name].(map[string]any); ok {
			u.Values = util.MergeTables(jsonCopy(own), jsonCopy(u.Values))
		}
		needed = append(needed, u)
	}
	return needed, nil
}

// mirrored returns the chart with its Registry values and object fields, naming mirror, merged
// over its own.
func (u Chart) mirrored(mirror string) Chart {
	sub := func(m map[string]any) map[string]any {
		data, _ := json.Marshal(m)
		data = []byte(strings.ReplaceAll(string(data), RegistryPlaceholder, mirror))
		out := map[string]any{}
		_ = json.Unmarshal(data, &out)
		return out
	}
	u.Values = util.MergeTables(sub(u.Registry.Values), jsonCopy(u.Values))
	objects := make([]map[string]any, len(u.Objects))
	for i, o := range u.Objects {
		objects[i] = jsonCopy(o)
		if i < len(u.Registry.Objects) {
			objects[i] = util.MergeTables(sub(u.Registry.Objects[i]), objects[i])
		}
	}
	u.Objects = objects
	return u
}

// jsonCopy is a deep copy with the types Helm stores values with (numbers as float64), so
// values compare equal to those of a release read back.
func jsonCopy(m map[string]any) map[string]any {
	out := map[string]any{}
	if data, err := json.Marshal(m); err == nil {
		_ = json.Unmarshal(data, &out)
	}
	return out
}

// enabledBy reports whether the values enable the chart: "a.b" is true, or "a.b=value".
func (u Chart) enabledBy(values map[string]any) bool {
	path, want, hasValue := strings.Cut(u.When, "=")
	v, _, _ := unstructured.NestedFieldNoCopy(values, strings.Split(path, ".")...)
	if hasValue {
		return fmt.Sprint(v) == want
	}
	b, _ := v.(bool)
	return b
}

// Brought maps each CRD the needed charts bring to the chart that brings it.
func Brought(needed []Chart) map[string]string {
	out := map[string]string{}
	for _, u := range needed {
		for _, crd := range u.Brings {
			out[crd] = u.Name
		}
	}
	return out
}
