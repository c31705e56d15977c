package config

import (
	"strings"
	"testing"
	"time"
)

func TestMetrics(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != DefaultMetrics() || !c.Metrics.Enabled || c.Metrics.Public || c.Metrics.Cache != 10*time.Second {
		t.Fatalf("defaults: %+v", c.Metrics)
	}
	c, err = load(t, []string{"--metrics=false", "--metrics-addr", "127.0.0.1:9100", "--metrics-public", "--metrics-cache", "30s"},
		map[string]string{"BERTH_METRICS_TOKEN": "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	want := Metrics{Addr: "127.0.0.1:9100", Token: "0123456789abcdef", Public: true, Cache: 30 * time.Second}
	if c.Metrics != want {
		t.Fatalf("got %+v, want %+v", c.Metrics, want)
	}
	for field, args := range map[string][]string{
		"metrics-addr":  {"--metrics-addr", "nope"},
		"metrics-cache": {"--metrics-cache", "10ms"},
		"metrics-token": {"--metrics-token", "short-secret"},
	} {
		_, err := load(t, args, nil)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want it to name the field", field, err)
		}
		if err != nil && strings.Contains(err.Error(), "short-secret") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}
