// Package ha is the high-availability test: three `berth serve` replicas
// on one PostgreSQL database and one blob store (an S3 bucket, or a blob
// directory on a filesystem they share) behind nginx, under continuous
// pushes and pulls while one replica is killed and restarted.
package ha

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/test/berthproc"
	"github.com/berth-registry/berth/test/pgserver"
	"github.com/berth-registry/berth/test/s3server"
)

// TestMain stops the shared servers and removes the built binary.
func TestMain(m *testing.M) {
	code := m.Run()
	pgserver.Cleanup()
	s3server.Cleanup()
	berthproc.Cleanup()
	os.Exit(code)
}

const adminPassword = "ha-admin-Passw0rd"

// backend is where a cluster's replicas keep their blobs.
type backend string

const (
	onS3        backend = "s3"         // one bucket of the shared S3 server
	onSharedDir backend = "shared-dir" // one --blob-dir outside every replica's --data-dir
)

// cluster is N berth replicas sharing one database and one blob store, each
// on a fixed port (a restarted replica comes back where nginx expects it).
type cluster struct {
	t        *testing.T
	auth     bool
	backend  backend
	blobDir  string // with onSharedDir
	env      []string
	flags    []string
	dirs     []string
	addrs    []string
	replicas []*berthproc.Server
}

// startCluster starts n replicas on a new database and blob store. With
// withAuth they require authentication and share one token signing key,
// so a token issued by any replica is accepted by all.
func startCluster(t *testing.T, n int, withAuth bool, on backend) *cluster {
	t.Helper()
	c := &cluster{t: t, auth: withAuth, backend: on}
	c.env = []string{"BERTH_ADMIN_PASSWORD=" + adminPassword}
	switch on {
	case onS3:
		s3 := s3server.Shared(t)
		c.env = append(c.env, "BERTH_S3_SECRET_KEY="+s3server.SecretKey)
		c.flags = []string{"--storage", "s3", "--s3-endpoint", s3.Endpoint(), "--s3-bucket", s3.NewBucket(t),
			"--s3-region", s3server.Region, "--s3-access-key", s3server.AccessKey}
	case onSharedDir:
		// A local directory the replicas share exercises what NFS or
		// CephFS would, but for attribute caching (see README).
		c.blobDir = t.TempDir()
		c.flags = []string{"--blob-dir", c.blobDir}
	default:
		t.Fatalf("unknown backend %q", on)
	}
	pgserver.Require(t)
	c.flags = append(c.flags, "--database-url", pgserver.Database(t), "--access-log=false", "--shutdown-timeout", "2s")
	if withAuth {
		key := filepath.Join(t.TempDir(), "token.key")
		if _, err := auth.LoadOrCreateKey(key); err != nil {
			t.Fatal(err)
		}
		// nginx (on 127.0.0.1) is the trusted proxy: the replicas take the
		// client's address from its X-Forwarded-For.
		c.flags = append(c.flags, "--auth=true", "--token-key", key, "--trusted-proxies", "127.0.0.1/32")
	} else {
		c.flags = append(c.flags, "--auth=false")
	}
	for range n {
		c.dirs = append(c.dirs, t.TempDir())
		c.addrs = append(c.addrs, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		c.replicas = append(c.replicas, nil)
	}
	for i := range n {
		c.start(i)
	}
	return c
}

// start (re)starts replica i on its data directory and port.
func (c *cluster) start(i int) *berthproc.Server {
	c.t.Helper()
	flags := append([]string{"--addr", c.addrs[i]}, c.flags...)
	c.replicas[i] = berthproc.StartEnv(c.t, c.dirs[i], c.env, flags...)
	if c.replicas[i].Addr != c.addrs[i] {
		c.t.Fatalf("replica %d listens on %s, want %s", i, c.replicas[i].Addr, c.addrs[i])
	}
	return c.replicas[i]
}

// url is replica i's own address, bypassing nginx.
func (c *cluster) url(i int) string { return "http://" + c.addrs[i] }

// waitReady polls replica i's /readyz (bounded by d) until it answers 200.
func (c *cluster) waitReady(i int, d time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for {
		res, err := hc.Get(c.url(i) + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %d: /readyz not 200 within %s (last: %v)", i, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
