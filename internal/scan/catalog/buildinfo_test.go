package catalog

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseBuildDockerfile: the label forms of Red Hat's build
// Dockerfiles, with ENV/ARG expansion and quoting.
func TestParseBuildDockerfile(t *testing.T) {
	for _, c := range []struct {
		name, file, nvr, arch string
		ok                    bool
	}{
		{"Dockerfile-ubi8-8.3-227", "ENV arch x86_64\nLABEL com.redhat.component=\"ubi8-container\" \\\n  name=ubi8\nLABEL \"architecture\"=$arch\n", "ubi8-container-8.3-227", "x86_64", true},
		{"Dockerfile-jboss-base-7-base-1.1-3", "FROM x\nENV base jboss-base\nLABEL BZComponent=\"${base}-7-docker\" \\\n      Architecture=\"x86_64\"\n", "jboss-base-7-docker-1.1-3", "x86_64", true},
		{"Dockerfile-a-1-2", "ARG ARCH=s390x\n# LABEL architecture=no\nLABEL com.redhat.component='single $quoted' architecture=${ARCH}\n", "single $quoted-1-2", "s390x", true},
		{"Dockerfile-a-1-2", "ARG X\nLABEL com.redhat.component=c architecture=${X:-ppc64le}\n", "c-1-2", "ppc64le", true},
		{"Dockerfile-a-1-2", "LABEL com.redhat.component=c\n", "", "", false},
		{"Dockerfile-a-1-2", "LABEL architecture=x86_64\n", "", "", false},
	} {
		nvr, arch, ok := parseBuildDockerfile([]byte(c.file), c.name)
		if nvr != c.nvr || arch != c.arch || ok != c.ok {
			t.Errorf("%s %q = %q %q %v, want %q %q %v", c.name, c.file, nvr, arch, ok, c.nvr, c.arch, c.ok)
		}
	}
	if got := shellWords(`a="b c" 'd e' f\ g $x`, map[string]string{"x": "y"}); !reflect.DeepEqual(got, []string{"a=b c", "d e", "f g", "y"}) {
		t.Errorf("shellWords = %q", got)
	}
}

// TestContentManifestLimits: a manifest over the size cap is noted and
// not read; content sets past MaxContentSets are dropped with a note.
func TestContentManifestLimits(t *testing.T) {
	var bi BuildInfo
	note, err := readBuildFile(strings.NewReader("{}"), MaxBuildInfoFile+1, "root/buildinfo/content_manifests/a.json", &bi)
	if err != nil || !strings.Contains(note, "not read") || bi.ContentSets != nil {
		t.Fatalf("big: %q %v %+v", note, err, bi)
	}
	sets := make([]string, MaxContentSets+5)
	for i := range sets {
		sets[i] = `"r` + strings.Repeat("x", i%3) + `"`
	}
	body := `{"content_sets":[` + strings.Join(sets, ",") + `]}`
	note, err = readBuildFile(strings.NewReader(body), int64(len(body)), "root/buildinfo/content_manifests/a.json", &bi)
	if err != nil || !strings.Contains(note, "only the first") || len(bi.ContentSets) != MaxContentSets {
		t.Fatalf("many: %q %v %d", note, err, len(bi.ContentSets))
	}
}

// FuzzBuildFiles: any content manifest or build Dockerfile is read
// without a panic, within the limits.
func FuzzBuildFiles(f *testing.F) {
	f.Add([]byte(`{"content_sets":["rhel-8-for-x86_64-baseos-rpms"]}`))
	f.Add([]byte("ENV a b\nLABEL com.redhat.component=${a architecture=$\\\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []string{"root/buildinfo/content_manifests/a.json", "root/buildinfo/Dockerfile-a-1-2"} {
			var bi BuildInfo
			if _, err := readBuildFile(strings.NewReader(string(b)), int64(len(b)), p, &bi); err != nil {
				t.Fatal(err)
			}
			if len(bi.ContentSets) > MaxContentSets {
				t.Fatalf("%d content sets", len(bi.ContentSets))
			}
		}
	})
}
