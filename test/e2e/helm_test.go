package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestHelm drives helm's OCI support: package, push, pull, show, template.
func TestHelm(t *testing.T) { bothModes(t, testHelm) }

func testHelm(t *testing.T, m mode) {
	c := needClient(t, "helm", "helm")
	srv := registry(t, m)
	srv.use(c)
	charts := "oci://" + srv.ref("charts")
	chartRef := charts + "/berth-e2e"
	c.write("berth-e2e/Chart.yaml", []byte("apiVersion: v2\nname: berth-e2e\ndescription: a chart for the berth e2e tests\nversion: 0.1.0\nappVersion: \"1.0\"\n"))
	c.write("berth-e2e/values.yaml", []byte("greeting: hello from berth\n"))
	c.write("berth-e2e/templates/configmap.yaml", []byte(
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"))
	pkg := filepath.Join(c.home, "dist", "berth-e2e-0.1.0.tgz")
	helm := func(c *client, args ...string) string { return c.run(append(args, "--plain-http")...) }

	c.step("package", func(c *client) {
		c.run("package", filepath.Join(c.home, "berth-e2e"), "-d", filepath.Join(c.home, "dist"))
		if _, err := os.Stat(pkg); err != nil {
			c.t.Fatal(err)
		}
	})
	c.step("push oci://", func(c *client) {
		out := helm(c, "push", pkg, charts)
		mustContain(c.t, out, "Digest: sha256:")
		_, body := manifestOf(c.t, srv, srv.repo("charts/berth-e2e"), "0.1.0")
		mustContain(c.t, string(body), "application/vnd.cncf.helm.config.v1+json")
		mustContain(c.t, string(body), "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
	})
	c.step("pull", func(c *client) {
		dir := filepath.Join(c.home, "pulled")
		if err := os.Mkdir(dir, 0o755); err != nil { // helm pull -d wants an existing directory
			c.t.Fatal(err)
		}
		helm(c, "pull", chartRef, "--version", "0.1.0", "-d", dir)
		got, err := os.ReadFile(filepath.Join(dir, "berth-e2e-0.1.0.tgz"))
		if err != nil {
			c.t.Fatal(err)
		}
		want, err := os.ReadFile(pkg)
		if err != nil {
			c.t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			c.t.Fatalf("pulled chart (%d bytes) differs from the pushed one (%d bytes)", len(got), len(want))
		}
	})
	c.step("show chart", func(c *client) {
		mustContain(c.t, helm(c, "show", "chart", chartRef, "--version", "0.1.0"), "name: berth-e2e", "description: a chart for the berth e2e tests")
	})
	c.step("latest and semver range from the tag list", func(c *client) {
		// 0.2.0+build.1 is stored under the tag 0.2.0_build.1 (tags have no '+').
		c.write("berth-e2e/Chart.yaml", []byte("apiVersion: v2\nname: berth-e2e\nversion: 0.2.0+build.1\n"))
		c.run("package", filepath.Join(c.home, "berth-e2e"), "-d", filepath.Join(c.home, "dist"))
		helm(c, "push", filepath.Join(c.home, "dist", "berth-e2e-0.2.0+build.1.tgz"), charts)
		manifestOf(c.t, srv, srv.repo("charts/berth-e2e"), "0.2.0_build.1")
		mustContain(c.t, helm(c, "show", "chart", chartRef), "version: 0.2.0+build.1")
		mustContain(c.t, helm(c, "show", "chart", chartRef, "--version", "~0.1"), "version: 0.1.0")
	})
	c.step("template from the registry", func(c *client) {
		mustContain(c.t, helm(c, "template", "demo", chartRef, "--version", "0.1.0", "--set", "greeting=hi"), "name: demo-greeting", `greeting: "hi"`)
	})
}
