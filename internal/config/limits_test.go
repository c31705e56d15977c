package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != DefaultLimits() || c.Limits.MaxConnections != 10000 || c.Limits.BodyIdleTimeout != time.Minute {
		t.Fatalf("defaults: %+v", c.Limits)
	}
	c, err = load(t, []string{"--max-connections", "50", "--body-idle-timeout", "5s", "--body-min-rate", "0",
		"--health-addr", "127.0.0.1:9"}, map[string]string{"BERTH_WRITE_IDLE_TIMEOUT": "2m"})
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxConnections: 50, BodyIdleTimeout: 5 * time.Second, WriteIdleTimeout: 2 * time.Minute, HealthAddr: "127.0.0.1:9"}
	if c.Limits != want {
		t.Fatalf("got %+v, want %+v", c.Limits, want)
	}
	for field, args := range map[string][]string{
		"max-connections":    {"--max-connections", "0"},
		"body-idle-timeout":  {"--body-idle-timeout", "10ms"},
		"body-min-rate":      {"--body-min-rate", "-1"},
		"write-idle-timeout": {"--write-idle-timeout", "0s"},
		"health-addr":        {"--health-addr", "nope"},
	} {
		if _, err := load(t, args, nil); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: err = %v, want it to name the field", field, err)
		}
	}
}
