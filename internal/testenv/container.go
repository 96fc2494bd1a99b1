package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Container runs a container of a rendered workload as a local process of the real server
// binary, the way the kubelet would run it: the same arguments, the environment with its
// Secret and ConfigMap references resolved and $(VAR) expanded, the ConfigMap volumes as
// folders. Paths under a mount point become the folder's, in the arguments and in the mounted
// files. What a test must change to reach loopback (a database address, listen ports) it
// changes through Rewrite and Env, visibly. Secret volumes are folders too.
type Container struct {
	// Spec is the container; Volumes the pod's.
	Spec    corev1.Container
	Volumes []corev1.Volume
	// Secrets and ConfigMaps by name, key, value: what the cluster would hold.
	Secrets    map[string]map[string]string
	ConfigMaps map[string]map[string]string
	// Projected holds the files of projected volumes (a ServiceAccount token, say), by volume
	// name and file.
	Projected map[string]map[string]string
	// Rewrite, when set, may change an environment variable's expanded value.
	Rewrite func(name, value string) string
	// Env is set after the container's own variables.
	Env map[string]string
}

// PodTemplateContainer finds the named container of a rendered workload (Deployment,
// StatefulSet, Job) with its pod's volumes.
func PodTemplateContainer(t testing.TB, obj *unstructured.Unstructured, name string) (corev1.Container, []corev1.Volume) {
	t.Helper()
	tmpl, found, err := unstructured.NestedMap(obj.Object, "spec", "template", "spec")
	if err != nil || !found {
		t.Fatalf("%s/%s has no pod template", obj.GetKind(), obj.GetName())
	}
	var spec corev1.PodSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &spec); err != nil {
		t.Fatalf("%s/%s: %v", obj.GetKind(), obj.GetName(), err)
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if c.Name == name {
			return c, spec.Volumes
		}
	}
	t.Fatalf("%s/%s has no container %s", obj.GetKind(), obj.GetName(), name)
	return corev1.Container{}, nil
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// Command builds the process: binary stands for the image's entrypoint.
func (c *Container) Command(t testing.TB, binary string) *exec.Cmd {
	t.Helper()
	mounts := map[string]string{} // mount path -> local folder
	for _, m := range c.Spec.VolumeMounts {
		dir := t.TempDir()
		mounts[m.MountPath] = dir
		for _, v := range c.Volumes {
			if v.Name != m.Name || (v.ConfigMap == nil && v.Secret == nil && v.Projected == nil) {
				continue
			}
			data, ok := map[string]string(nil), false
			switch {
			case v.ConfigMap != nil:
				data, ok = c.ConfigMaps[v.ConfigMap.Name]
			case v.Secret != nil:
				data, ok = c.Secrets[v.Secret.SecretName]
				if ok && len(v.Secret.Items) > 0 {
					picked := map[string]string{}
					for _, it := range v.Secret.Items {
						picked[it.Path] = data[it.Key]
					}
					data = picked
				}
			default:
				data, ok = c.Projected[v.Name]
			}
			if !ok {
				t.Fatalf("volume %s: no ConfigMap or Secret for it", v.Name)
			}
			for file, content := range data {
				if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// One pass over all mount points, longest first: a folder's own path (under /tmp) is never
	// rewritten again by a /tmp mount.
	var points []string
	for mount := range mounts {
		points = append(points, regexp.QuoteMeta(mount))
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	// A mount point is a path by itself or the start of one: followed by "/", a quote, a space
	// or the end.
	under := regexp.MustCompile(`(` + strings.Join(points, "|") + `)(/|["'\s]|$)`)
	local := func(s string) string {
		if len(points) == 0 {
			return s
		}
		return under.ReplaceAllStringFunc(s, func(m string) string {
			sub := under.FindStringSubmatch(m)
			return mounts[sub[1]] + sub[2]
		})
	}
	// Mounted files refer to each other by their in-container paths.
	for _, dir := range mounts {
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			p := filepath.Join(dir, f.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(local(string(data))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	env := map[string]string{}
	var order []string
	for _, from := range c.Spec.EnvFrom {
		var data map[string]string
		switch {
		case from.SecretRef != nil:
			data = c.Secrets[from.SecretRef.Name]
		case from.ConfigMapRef != nil:
			data = c.ConfigMaps[from.ConfigMapRef.Name]
		}
		for k, v := range data {
			env[from.Prefix+k] = v
			order = append(order, from.Prefix+k)
		}
	}
	for _, e := range c.Spec.Env {
		value := e.Value
		if ref := e.ValueFrom; ref != nil {
			switch {
			case ref.SecretKeyRef != nil:
				value = c.Secrets[ref.SecretKeyRef.Name][ref.SecretKeyRef.Key]
			case ref.ConfigMapKeyRef != nil:
				value = c.ConfigMaps[ref.ConfigMapKeyRef.Name][ref.ConfigMapKeyRef.Key]
			}
		}
		value = envRef.ReplaceAllStringFunc(value, func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m // Kubernetes leaves an unknown reference as it is
		})
		value = local(value) // a path into a mount is the mounted folder's
		if c.Rewrite != nil {
			value = c.Rewrite(e.Name, value)
		}
		env[e.Name] = value
		order = append(order, e.Name)
	}
	for k, v := range c.Env {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	args := append(append([]string{}, c.Spec.Command...), c.Spec.Args...)
	if len(c.Spec.Command) > 0 {
		args = args[1:] // the image's own binary: binary stands for it
	}
	for i := range args {
		args[i] = local(args[i])
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, k := range order {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	return cmd
}

// FreePort is a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
