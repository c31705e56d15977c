package deploy

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/test/testenv"
)

// required are the values without which the chart refuses to render.
var required = []string{
	"--set", "secret.databaseURL=postgres://berth:pw@pg.example:5432/berth?sslmode=require",
	"--set", "config.s3-endpoint=https://s3.example.com",
	"--set", "config.s3-bucket=berth-blobs",
}

// docs splits helm template output into documents by kind.
func docs(out string) map[string]string {
	m := map[string]string{}
	kind := regexp.MustCompile(`(?m)^kind: (\w+)$`)
	for _, d := range strings.Split(out, "\n---\n") {
		if k := kind.FindStringSubmatch(d); k != nil {
			m[k[1]] = d
		}
	}
	return m
}

func TestHelmChart(t *testing.T) {
	helm, err := tool("helm")
	testenv.Require(t, err)
	chart := filepath.Join(root(t), "deploy", "helm", "berth")
	env := []string{"HELM_CACHE_HOME=" + t.TempDir(), "HELM_CONFIG_HOME=" + t.TempDir(), "HELM_DATA_HOME=" + t.TempDir()}
	template := func(args ...string) (string, error) {
		return run(t, "", env, helm, append([]string{"template", "reg", chart, "--namespace", "registry"}, args...)...)
	}

	t.Run("lint", func(t *testing.T) {
		out := must(t, "", env, helm, append([]string{"lint", "--strict", chart}, required...)...)
		contains(t, "helm lint", out, "0 chart(s) failed")
		must(t, "", env, helm, append([]string{"lint", "--strict", chart, "--set", "ingress.enabled=true",
			"--set", "ingress.hosts[0]=registry.example.com", "--set", "secret.existingSecret=berth-creds"}, required...)...)
	})

	t.Run("default", func(t *testing.T) {
		out, err := template(required...)
		if err != nil {
			t.Fatal(err)
		}
		d := docs(out)
		for _, k := range []string{"Deployment", "Service", "Secret", "ConfigMap", "PodDisruptionBudget"} {
			if d[k] == "" {
				t.Errorf("no %s rendered", k)
			}
		}
		if d["Ingress"] != "" {
			t.Error("Ingress rendered though ingress.enabled is false")
		}
		contains(t, "Deployment", d["Deployment"], "replicas: 3", "path: /livez", "path: /readyz", "port: http",
			"containerPort: 5000", "runAsNonRoot: true", "runAsUser: 65532", "readOnlyRootFilesystem: true",
			"allowPrivilegeEscalation: false", "- ALL", "mountPath: /data", "mountPath: /etc/berth/secrets",
			"name: BERTH_DATABASE_URL", "key: database-url", "name: BERTH_ADMIN_PASSWORD", "key: admin-password",
			"configMapRef:", "memory: 512Mi", "terminationGracePeriodSeconds: 45", "checksum/config:")
		contains(t, "ConfigMap", d["ConfigMap"], `BERTH_STORAGE: "s3"`, `BERTH_S3_ENDPOINT: "https://s3.example.com"`,
			`BERTH_S3_BUCKET: "berth-blobs"`, `BERTH_S3_PATH_STYLE: "true"`, `BERTH_DB_MAX_CONNS: "20"`,
			"BERTH_TOKEN_KEY: /etc/berth/secrets/token.key", "BERTH_SESSION_KEY: /etc/berth/secrets/session.key",
			"BERTH_DATA_DIR: /data")
		for _, leak := range []string{"BERTH_S3_PREFIX", "BERTH_S3_REGION", "BERTH_TOKEN_REALM", "postgres://", "BERTH_DATABASE_URL"} {
			if strings.Contains(d["ConfigMap"], leak) {
				t.Errorf("ConfigMap has %s", leak)
			}
		}
		if strings.Contains(d["Deployment"], "BERTH_S3_ACCESS_KEY") {
			t.Error("S3 keys referenced though none were given (pod identity should apply)")
		}
		contains(t, "PodDisruptionBudget", d["PodDisruptionBudget"], "maxUnavailable: 1")

		// The generated keys are in the format berth reads.
		data := map[string][]byte{}
		for _, m := range regexp.MustCompile(`(?m)^  ([\w.-]+): "([A-Za-z0-9+/=]*)"$`).FindAllStringSubmatch(d["Secret"], -1) {
			b, err := base64.StdEncoding.DecodeString(m[2])
			if err != nil {
				t.Fatalf("Secret %s: %v", m[1], err)
			}
			data[m[1]] = b
		}
		if got := string(data["database-url"]); got != "postgres://berth:pw@pg.example:5432/berth?sslmode=require" {
			t.Errorf("database-url = %q", got)
		}
		if len(data["admin-password"]) < 16 {
			t.Errorf("admin-password = %q, want a generated one", data["admin-password"])
		}
		dir := t.TempDir()
		for _, k := range []string{"token.key", "session.key"} {
			if err := os.WriteFile(filepath.Join(dir, k), data[k], 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := auth.LoadOrCreateKey(filepath.Join(dir, "token.key")); err != nil {
			t.Errorf("generated token.key: %v", err)
		}
		if _, err := api.LoadOrCreateSessionKey(filepath.Join(dir, "session.key")); err != nil {
			t.Errorf("generated session.key: %v", err)
		}
	})

	t.Run("ingress and existing secret", func(t *testing.T) {
		out, err := template(append([]string{"--set", "ingress.enabled=true", "--set", "ingress.hosts[0]=registry.example.com",
			"--set", "ingress.tls[0].secretName=tls", "--set", "ingress.tls[0].hosts[0]=registry.example.com",
			"--set", "secret.existingSecret=berth-creds", "--set", "replicaCount=5", "--set", "config.s3-redirect=false",
			"--set", "config.log-level=debug"}, required...)...)
		if err != nil {
			t.Fatal(err)
		}
		d := docs(out)
		if d["Secret"] != "" {
			t.Error("a Secret was rendered though secret.existingSecret is set")
		}
		contains(t, "Deployment", d["Deployment"], "replicas: 5", "name: berth-creds", "secretName: berth-creds",
			"name: BERTH_S3_ACCESS_KEY", "optional: true")
		contains(t, "ConfigMap", d["ConfigMap"], `BERTH_TOKEN_REALM: "https://registry.example.com/service/token"`,
			`BERTH_S3_REDIRECT: "false"`, `BERTH_LOG_LEVEL: "debug"`)
		contains(t, "Ingress", d["Ingress"], `host: "registry.example.com"`, "secretName: tls", "name: reg-berth",
			`proxy-body-size: "0"`, `proxy-request-buffering: "off"`)
	})

	t.Run("public URL wins", func(t *testing.T) {
		out, err := template(append([]string{"--set", "publicURL=https://cr.example.com/", "--set", "ingress.enabled=true",
			"--set", "ingress.hosts[0]=other.example.com"}, required...)...)
		if err != nil {
			t.Fatal(err)
		}
		contains(t, "ConfigMap", docs(out)["ConfigMap"], `BERTH_TOKEN_REALM: "https://cr.example.com/service/token"`)
	})

	t.Run("single replica without PDB", func(t *testing.T) {
		out, err := template(append([]string{"--set", "replicaCount=1"}, required...)...)
		if err != nil {
			t.Fatal(err)
		}
		if docs(out)["PodDisruptionBudget"] != "" {
			t.Error("PodDisruptionBudget for a single replica would block node drains")
		}
	})

	t.Run("shared volume", func(t *testing.T) {
		shared := []string{"--set", "secret.databaseURL=postgres://berth:pw@pg.example:5432/berth", "--set", "config.storage=fs",
			"--set", "sharedVolume.enabled=true"}
		out, err := template(append(shared, "--set", "sharedVolume.storageClassName=nfs-client", "--set", "sharedVolume.size=2Ti")...)
		if err != nil {
			t.Fatal(err)
		}
		d := docs(out)
		contains(t, "PersistentVolumeClaim", d["PersistentVolumeClaim"], "name: reg-berth-blobs", "accessModes: [ReadWriteMany]",
			`storageClassName: "nfs-client"`, "storage: 2Ti", "helm.sh/resource-policy: keep")
		contains(t, "Deployment", d["Deployment"], "replicas: 3", "mountPath: /blobs", "claimName: reg-berth-blobs")
		contains(t, "ConfigMap", d["ConfigMap"], `BERTH_STORAGE: "fs"`, `BERTH_BLOB_DIR: "/blobs"`)
		out, err = template(append(shared, "--set", "sharedVolume.existingClaim=team-nfs")...)
		if err != nil {
			t.Fatal(err)
		}
		d = docs(out)
		if d["PersistentVolumeClaim"] != "" {
			t.Error("a PersistentVolumeClaim was rendered though sharedVolume.existingClaim is set")
		}
		contains(t, "Deployment", d["Deployment"], "claimName: team-nfs")
		if out, err := template(required...); err != nil || docs(out)["PersistentVolumeClaim"] != "" || strings.Contains(out, "BERTH_BLOB_DIR") {
			t.Errorf("S3 install: a blob volume rendered (%v)", err)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		out, err := template(required...)
		if err != nil {
			t.Fatal(err)
		}
		d := docs(out)
		if d["ServiceMonitor"] != "" || d["PrometheusRule"] != "" || strings.Contains(d["Service"], "metrics") ||
			strings.Contains(d["ConfigMap"], "BERTH_METRICS_ADDR") {
			t.Error("metrics objects or port rendered by default")
		}
		out, err = template(append([]string{"--set", "metrics.enabled=true", "--set", "metrics.serviceMonitor.enabled=true",
			"--set", "metrics.serviceMonitor.labels.release=prom", "--set", "metrics.prometheusRule.enabled=true"}, required...)...)
		if err != nil {
			t.Fatal(err)
		}
		d = docs(out)
		contains(t, "ConfigMap", d["ConfigMap"], `BERTH_METRICS_ADDR: ":9090"`)
		contains(t, "Deployment", d["Deployment"], "name: metrics", "containerPort: 9090")
		contains(t, "Service", d["Service"], "name: metrics", "port: 9090", "targetPort: metrics")
		contains(t, "ServiceMonitor", d["ServiceMonitor"], "apiVersion: monitoring.coreos.com/v1", "port: metrics",
			"path: /metrics", "interval: 30s", "release: prom")
		contains(t, "PrometheusRule", d["PrometheusRule"], "apiVersion: monitoring.coreos.com/v1", "alert: BerthInstanceDown",
			"alert: BerthCertificateExpiring", "{{ $labels.project_name }}")
		if _, err := template(append([]string{"--set", "metrics.serviceMonitor.enabled=true"}, required...)...); err == nil ||
			!strings.Contains(err.Error(), "needs metrics.enabled") {
			t.Errorf("ServiceMonitor without the metrics port: err = %v", err)
		}
		// The chart's copy of the rules is the tested file.
		a, _ := os.ReadFile(filepath.Join(root(t), "deploy", "prometheus", "berth-rules.yml"))
		b, _ := os.ReadFile(filepath.Join(chart, "files", "berth-rules.yml"))
		if len(a) == 0 || string(a) != string(b) {
			t.Error("deploy/helm/berth/files/berth-rules.yml differs from deploy/prometheus/berth-rules.yml: copy it")
		}
	})

	t.Run("refused", func(t *testing.T) {
		for name, c := range map[string]struct {
			args []string
			want string
		}{
			"no database":      {[]string{"--set", "config.s3-endpoint=https://s3", "--set", "config.s3-bucket=b"}, "secret.databaseURL"},
			"no bucket":        {[]string{"--set", "secret.databaseURL=postgres://x", "--set", "config.s3-endpoint=https://s3"}, "config.s3-bucket"},
			"fs with replicas": {append([]string{"--set", "config.storage=fs"}, required...), "replicaCount > 1"},
			"one S3 key":       {append([]string{"--set", "secret.s3AccessKey=AK"}, required...), "give both S3 keys"},
			"volume with s3":   {append([]string{"--set", "sharedVolume.enabled=true"}, required...), "sharedVolume.enabled needs config.storage fs"},
		} {
			if _, err := template(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err = %v, want one naming %q", name, err, c.want)
			}
		}
	})
}
