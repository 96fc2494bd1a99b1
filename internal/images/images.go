// Package images finds every container image an install runs (the platform chart's, the
// upstream charts', and those their operators run) and moves image references to a mirror.
package images

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/distribution/reference"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/resimate/resimatectl/internal/render"
	"github.com/resimate/resimatectl/internal/upstream"
)

// Image is one image and what runs it.
type Image struct {
	Image string `json:"image"`
	// From names the charts (resimate, or an upstream chart's name) whose objects run it.
	From []string `json:"from"`
}

// Where images hide in rendered objects, besides containers' "image" fields: custom resources'
// image fields, operators' flags that name the images they start, and operator settings.
var (
	imageFields  = map[string]bool{"image": true, "imageName": true}
	imageFlag    = regexp.MustCompile(`^--(?:[a-z0-9-]*image|[a-z-]*config-reloader)=(\S+)$`)
	imageSetting = regexp.MustCompile(`_IMAGE(_NAME)?$`)
)

// InObject lists the images obj names.
func InObject(obj map[string]any) []string {
	var out []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				walk(k, val)
			}
		case []any:
			for _, val := range x {
				walk(key, val)
			}
		case string:
			switch {
			case imageFields[key] || imageSetting.MatchString(key):
				out = append(out, x)
			case key == "args" || key == "command":
				if m := imageFlag.FindStringSubmatch(x); m != nil {
					out = append(out, m[1])
				}
			}
		}
	}
	walk("", obj)
	valid := out[:0]
	for _, img := range out {
		if _, err := reference.ParseNormalizedNamed(img); err == nil {
			valid = append(valid, img)
		}
	}
	return valid
}

// Rewrite moves image to mirror: its registry host replaced, its path and tag or digest kept.
func Rewrite(image, mirror string) (string, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	out := strings.TrimSuffix(mirror, "/") + "/" + reference.Path(named)
	if tagged, ok := named.(reference.Tagged); ok {
		out += ":" + tagged.Tag()
	}
	if digested, ok := named.(reference.Digested); ok {
		out += "@" + digested.Digest().String()
	}
	return out, nil
}

// Collector gathers images by the chart that runs them.
type Collector struct{ from map[string]map[string]bool }

// Add records the images of objs as run by chart.
func (c *Collector) Add(chartName string, objs ...map[string]any) {
	for _, o := range objs {
		for _, img := range InObject(o) {
			c.addImage(chartName, img)
		}
	}
}

func (c *Collector) addImage(chartName, img string) {
	if c.from == nil {
		c.from = map[string]map[string]bool{}
	}
	if c.from[img] == nil {
		c.from[img] = map[string]bool{}
	}
	c.from[img][chartName] = true
}

// List returns the images sorted, each with its charts.
func (c *Collector) List() []Image {
	out := make([]Image, 0, len(c.from))
	for img, charts := range c.from {
		i := Image{Image: img}
		for name := range charts {
			i.From = append(i.From, name)
		}
		sort.Strings(i.From)
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Image < out[b].Image })
	return out
}

// ForInstall lists every image an install of rendered runs: the platform chart's, and those of
// the needed upstream charts (loaded, in the same order), rendered with their values, with their
// objects and their operators' runtime images, moved to global.imageRegistry when it is set.
func ForInstall(ctx context.Context, rendered *render.Result, needed []upstream.Chart, loaded []*chart.Chart) ([]Image, error) {
	var c Collector
	for _, o := range rendered.Objects {
		c.Add("resimate", o.Object)
	}
	mirror, _, _ := unstructured.NestedString(rendered.Effective, "global", "imageRegistry")
	for i, u := range needed {
		res, err := render.RenderValues(ctx, loaded[i], u.Values, render.Options{ReleaseName: u.Name, Namespace: u.Namespace})
		if err != nil {
			return nil, fmt.Errorf("rendering upstream chart %s: %w", u.Name, err)
		}
		for _, o := range res.Objects {
			c.Add(u.Name, o.Object)
		}
		c.Add(u.Name, u.Objects...)
		for _, img := range u.RuntimeImages {
			if mirror != "" {
				if img, err = Rewrite(img, mirror); err != nil {
					return nil, err
				}
			}
			c.addImage(u.Name, img)
		}
	}
	return c.List(), nil
}
