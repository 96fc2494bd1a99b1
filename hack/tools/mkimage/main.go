// mkimage writes a one-layer container image, as a docker-archive tarball that `ctr images
// import` loads, from files of this machine: the real-pod test cluster's images are the test
// environment's own binaries, never pulled from a registry.
//
//	mkimage -o OUT.tar -ref NAME:TAG[,NAME:TAG...] [-entrypoint JSON] [-user UID] [-libs] SPEC...
//
// SPEC is SRC=DST (a file, mode kept), dir:DST (an empty folder, writable by all, like /tmp)
// or link:TARGET=DST (a symlink). With -libs, the shared libraries each file needs (as ldd
// lists them, the loader included) go in at their own paths.
package main

import (
	"archive/tar"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The users the platform's pods run as (the chart's 10001, the backup image's 65532), so that
// tools that look themselves up find a name.
const passwd = "root:x:0:0:root:/:/sbin/nologin\nresimate:x:10001:10001:resimate:/tmp:/sbin/nologin\n" +
	"resimatectl:x:65532:65532:resimatectl:/tmp:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
const group = "root:x:0:\nresimate:x:10001:\nresimatectl:x:65532:\nnogroup:x:65534:\n"

type entry struct {
	hdr tar.Header
	src string // file contents, when a regular file
}

func main() {
	out := flag.String("o", "", "output tarball")
	ref := flag.String("ref", "", "image reference")
	entrypoint := flag.String("entrypoint", "", "entrypoint as a JSON list")
	user := flag.String("user", "", "user the image runs as")
	libs := flag.Bool("libs", false, "add the shared libraries of each file")
	flag.Parse()
	if *out == "" || *ref == "" {
		log.Fatal("usage: mkimage -o OUT.tar -ref NAME:TAG [-entrypoint JSON] [-user UID] [-libs] SPEC...")
	}
	entries, err := layout(flag.Args(), *libs)
	if err != nil {
		log.Fatal(err)
	}
	if err := write(*out, *ref, *entrypoint, *user, entries); err != nil {
		log.Fatal(err)
	}
}

// layout turns the specs into the layer's entries, each folder above them included once.
func layout(specs []string, withLibs bool) ([]entry, error) {
	files := map[string]entry{}
	add := func(e entry) {
		e.hdr.Name = strings.TrimPrefix(path.Clean("/"+e.hdr.Name), "/")
		files[e.hdr.Name] = e
	}
	add(entry{hdr: tar.Header{Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwd))}, src: "literal:" + passwd})
	add(entry{hdr: tar.Header{Name: "etc/group", Mode: 0o644, Size: int64(len(group))}, src: "literal:" + group})
	for _, spec := range specs {
		switch {
		case strings.HasPrefix(spec, "dir:"):
			add(entry{hdr: tar.Header{Name: strings.TrimPrefix(spec, "dir:"), Typeflag: tar.TypeDir, Mode: 0o1777}})
		case strings.HasPrefix(spec, "link:"):
			target, dst, ok := strings.Cut(strings.TrimPrefix(spec, "link:"), "=")
			if !ok {
				return nil, fmt.Errorf("bad link spec %q", spec)
			}
			add(entry{hdr: tar.Header{Name: dst, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}})
		default:
			src, dst, ok := strings.Cut(spec, "=")
			if !ok {
				return nil, fmt.Errorf("bad file spec %q (want SRC=DST)", spec)
			}
			e, err := fileEntry(src, dst)
			if err != nil {
				return nil, err
			}
			add(e)
			if !withLibs {
				continue
			}
			deps, err := sharedLibraries(src)
			if err != nil {
				return nil, err
			}
			for _, lib := range deps {
				le, err := fileEntry(lib, lib)
				if err != nil {
					return nil, err
				}
				add(le)
			}
		}
	}
	return withParents(files), nil
}

func fileEntry(src, dst string) (entry, error) {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return entry{}, err
	}
	st, err := os.Stat(real)
	if err != nil {
		return entry{}, err
	}
	return entry{hdr: tar.Header{Name: dst, Mode: int64(st.Mode().Perm()), Size: st.Size()}, src: real}, nil
}

var lddPath = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibraries lists what ldd says a dynamic executable loads; nothing for a static one.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := lddPath.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs, nil
}

// withParents adds the folders above every entry and sorts parents before children.
func withParents(files map[string]entry) []entry {
	for n := range files {
		for d := path.Dir(n); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := files[d]; !ok {
				files[d] = entry{hdr: tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}}
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	list := make([]entry, 0, len(names))
	for _, n := range names {
		e := files[n]
		if e.hdr.Typeflag == tar.TypeDir {
			e.hdr.Name += "/"
		}
		list = append(list, e)
	}
	return list
}

func write(out, ref, entrypoint, user string, entries []entry) error {
	layerFile, err := os.CreateTemp(filepath.Dir(out), ".layer-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(layerFile.Name())
	if err := writeLayer(layerFile, entries); err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(layerFile.Name())
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config = v1.Config{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"}, User: user}
	if entrypoint != "" {
		if err := json.Unmarshal([]byte(entrypoint), &cfg.Config.Entrypoint); err != nil {
			return fmt.Errorf("entrypoint: %v", err)
		}
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	// One image under each of the names (the stand-in plays four services).
	refs := map[name.Reference]v1.Image{}
	for _, r := range strings.Split(ref, ",") {
		tag, err := name.NewTag(r)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	return tarball.MultiRefWriteToFile(out, refs)
}

func writeLayer(f *os.File, entries []entry) error {
	tw := tar.NewWriter(f)
	for _, e := range entries {
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return err
		}
		if err := copyContents(tw, e.src); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func copyContents(w io.Writer, src string) error {
	if src == "" {
		return nil
	}
	if text, ok := strings.CutPrefix(src, "literal:"); ok {
		_, err := io.WriteString(w, text)
		return err
	}
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}
