package deploy

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/test/testenv"
)

// TestPrometheusRules checks deploy/prometheus/berth-rules.yml with
// promtool and runs its unit tests (berth-rules.test.yml): each alert
// fires on the series meant to trigger it, with its labels and texts.
// The metric names the rules use are checked against berth's in
// internal/metrics (TestDeployedNamesExist).
func TestPrometheusRules(t *testing.T) {
	promtool, err := tool("promtool")
	testenv.Require(t, err)
	dir := filepath.Join(root(t), "deploy", "prometheus")
	out := must(t, dir, nil, promtool, "check", "rules", "berth-rules.yml")
	contains(t, "promtool check rules", out, "SUCCESS: 10 rules found")
	out = must(t, dir, nil, promtool, "test", "rules", "berth-rules.test.yml")
	contains(t, "promtool test rules", out, "SUCCESS")
}
