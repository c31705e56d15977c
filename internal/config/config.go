// Package config holds berth's typed configuration: defaults, the sources
// it is read from (flags > BERTH_* environment > JSON file), and Validate.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything `berth serve` can be told.
type Config struct {
	Addr            string
	DataDir         string
	LogLevel        string
	LogFormat       string
	AccessLog       bool
	DeleteEnabled   bool
	MaxManifestSize int64
	MaxBlobSize     int64
	UploadTTL       time.Duration
	ShutdownTimeout time.Duration
	ConfigFile      string
	TLS                         // --tls-* and --acme-* (tls.go)
	Auth            Auth        // --auth, --token-*, --login-* (auth.go)
	Database        Database    // --database-url, --db-* (database.go)
	Storage         Storage     // --storage, --s3-* (storage.go)
	Proxy           Proxy       // --external-url, --trusted-proxies (proxy.go)
	Limits          Limits      // --max-connections, --body-*, --write-idle-timeout, --health-addr (limits.go)
	ProxyCache      ProxyCache  // --proxy-cache-* (proxycache.go)
	Metrics         Metrics     // --metrics* (metrics.go)
	Webhook         Webhook     // --webhook-* (webhook.go)
	Replication     Replication // --replication-* (replication.go)
	Scan            Scan        // --vulndb-ref, --scan-block-unscanned (scan.go)
}

// Default returns the embedded default: listen on :5000, data in ./data.
func Default() Config {
	return Config{
		Addr:            ":5000",
		DataDir:         "./data",
		LogLevel:        "info",
		LogFormat:       "json",
		AccessLog:       true,
		DeleteEnabled:   true,
		MaxManifestSize: 4 << 20,
		UploadTTL:       24 * time.Hour,
		ShutdownTimeout: 30 * time.Second,
		TLS:             DefaultTLS(),
		Auth:            DefaultAuth(),
		Database:        DefaultDatabase(),
		Storage:         DefaultStorage(),
		Limits:          DefaultLimits(),
		ProxyCache:      DefaultProxyCache(),
		Metrics:         DefaultMetrics(),
		Webhook:         DefaultWebhook(),
		Scan:            DefaultScan(),
		Replication:     DefaultReplication(),
	}
}

// EnvName is the environment variable for a flag: BERTH_ + upper snake.
func EnvName(flagName string) string {
	return "BERTH_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// FlagSet binds c's fields to flags of a serve command.
func (c *Config) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address HOST:PORT")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the database and blobs (embedded default)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text")
	fs.BoolVar(&c.AccessLog, "access-log", c.AccessLog, "log one line per request")
	fs.BoolVar(&c.DeleteEnabled, "delete-enabled", c.DeleteEnabled, "allow deleting manifests, tags and blobs")
	fs.Int64Var(&c.MaxManifestSize, "max-manifest-size", c.MaxManifestSize, "largest accepted manifest, bytes")
	fs.Int64Var(&c.MaxBlobSize, "max-blob-size", c.MaxBlobSize, "largest accepted blob, bytes (0: no limit)")
	fs.DurationVar(&c.UploadTTL, "upload-ttl", c.UploadTTL, "how long an idle upload session is kept")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "JSON file of flag-name: value pairs (lowest precedence)")
	c.Auth.flags(fs)
	c.TLS.flags(fs)
	c.Database.flags(fs)
	c.Storage.flags(fs)
	c.Proxy.flags(fs)
	c.Limits.flags(fs)
	c.ProxyCache.flags(fs)
	c.Metrics.flags(fs)
	c.Webhook.flags(fs)
	c.Scan.flags(fs)
	c.Replication.flags(fs)
	return fs
}

// Load parses args into c with precedence flags > environment > file.
func (c *Config) Load(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		if v := getenv(EnvName("config")); v != "" {
			c.ConfigFile = v
		}
	}
	file := map[string]any{}
	if c.ConfigFile != "" {
		b, err := os.ReadFile(c.ConfigFile)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := json.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config file %s: %w", c.ConfigFile, err)
		}
		for k := range file {
			if fs.Lookup(k) == nil {
				return fmt.Errorf("config file %s: unknown setting %q", c.ConfigFile, k)
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		val, src := getenv(EnvName(f.Name)), EnvName(f.Name)
		if val == "" {
			v, ok := file[f.Name]
			if !ok {
				return
			}
			switch t := v.(type) {
			case string:
				val = t
			case float64:
				val = strconv.FormatFloat(t, 'f', -1, 64)
			case []any: // a list setting such as acme-domain
				parts := make([]string, len(t))
				for i, e := range t {
					parts[i] = fmt.Sprint(e)
				}
				val = strings.Join(parts, ",")
			default:
				val = fmt.Sprint(t)
			}
			src = "config file setting " + f.Name
		}
		if err := fs.Set(f.Name, val); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", src, val, setError(f, err)))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.Validate()
}

// Validate names the first bad field.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	if c.DataDir == "" {
		return errors.New("data-dir must not be empty")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return fmt.Errorf("log-format %q: want json or text", c.LogFormat)
	}
	if c.MaxManifestSize < 1024 || c.MaxManifestSize > 64<<20 {
		return fmt.Errorf("max-manifest-size %d: want between 1 KiB and 64 MiB", c.MaxManifestSize)
	}
	if c.MaxBlobSize < 0 {
		return fmt.Errorf("max-blob-size %d: must not be negative", c.MaxBlobSize)
	}
	if c.UploadTTL < time.Minute {
		return fmt.Errorf("upload-ttl %s: want at least 1m", c.UploadTTL)
	}
	if err := c.Auth.validate(); err != nil {
		return err
	}
	if err := c.Database.validate(); err != nil {
		return err
	}
	if err := c.Storage.validate(); err != nil {
		return err
	}
	if err := c.validateBlobDir(); err != nil {
		return err
	}
	if err := c.Proxy.validate(); err != nil {
		return err
	}
	if err := c.ProxyCache.validate(); err != nil {
		return err
	}
	if err := c.Webhook.validate(); err != nil {
		return err
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if err := c.Scan.validate(); err != nil {
		return err
	}
	if err := c.Replication.validate(); err != nil {
		return err
	}
	if err := c.Metrics.validate(); err != nil {
		return err
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("shutdown-timeout %s: must not be negative", c.ShutdownTimeout)
	}
	return c.TLS.validate()
}
