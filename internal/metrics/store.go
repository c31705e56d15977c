package metrics

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/meta"
)

// MaxProjects bounds the projects exported per scrape (and read per
// query): beyond it the per-project families are cut, by name.
const MaxProjects = 10000

// StoreOptions configures the collectors that read the database.
type StoreOptions struct {
	Store meta.MetricsStore
	// TTL is how long a reading is served before the next scrape reads
	// again: several Prometheus servers scraping cost one set of queries.
	TTL time.Duration
	// Capacity, if set, reports the blob storage's file system (local
	// disk only).
	Capacity func() (total, free uint64, err error)
	// Pools, if set, reports the database pools (write and read, the same
	// pool when not separate).
	Pools  func() (write, read sql.DBStats, separate bool)
	Logger *slog.Logger
}

// RegisterStore adds the collectors that read the database at scrape
// time, each family one bounded query, cached for o.TTL.
func (r *Registry) RegisterStore(o StoreOptions) {
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	r.reg.MustRegister(&storeCollector{o: o})
	if o.Pools != nil {
		r.reg.MustRegister(&poolCollector{stats: o.Pools})
	}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dProjectTotal    = desc("harbor_project_total", "Projects, by visibility (Harbor's name).", "public")
	dQuotaUsage      = desc("harbor_project_quota_usage_byte", "Storage a project uses, as its quota counts it (Harbor's name).", "project_name")
	dQuota           = desc("harbor_project_quota_byte", "A project's storage quota in bytes, -1 if unlimited (Harbor's name).", "project_name")
	dRepoTotal       = desc("harbor_project_repo_total", "Repositories of a project (Harbor's name).", "project_name", "public")
	dPulled          = desc("harbor_artifact_pulled", "Pulls of a project's artifacts, as counted for the API's pull_count (Harbor's name).", "project_name")
	dArtifactTotal   = desc("harbor_project_artifact_total", "Artifacts (manifests) of a project (Harbor's name, without artifact_type).", "project_name", "public")
	dMemberTotal     = desc("harbor_project_member_total", "User members of a project (Harbor's name).", "project_name")
	dQueueSize       = desc("harbor_task_queue_size", "Job executions waiting to run, by kind (Harbor's name).", "type")
	dJobExecutions   = desc("berth_job_executions", "Job executions kept in the queue's history, by kind and status (Pending, Running, Success, Error, Stopped).", "kind", "status")
	dStorage         = desc("harbor_statistics_total_storage_consumption", "Bytes of all committed blobs (Harbor's name).")
	dUploads         = desc("berth_upload_sessions", "Upload sessions open.")
	dBlobs           = desc("berth_blob_store_objects", "Committed blobs.")
	dBlobBytes       = desc("berth_blob_store_bytes", "Bytes of committed blobs.")
	dGCFreed         = desc("berth_gc_last_freed_bytes", "Bytes freed by the last garbage collection that was not a dry run.")
	dGCAt            = desc("berth_gc_last_success_timestamp_seconds", "When the last garbage collection that was not a dry run ended.")
	dCapacity        = desc("berth_storage_capacity_bytes", "Size of the file system holding the blobs (local disk only).")
	dFree            = desc("berth_storage_free_bytes", "Free bytes on the file system holding the blobs (local disk only).")
	dUp              = desc("harbor_up", "Running status of a component (Harbor's name): core is up while it answers, database while it answered the last reading.", "component")
	dHealth          = desc("harbor_health", "Running status of berth (Harbor's name): 1 while every component is up.")
	dCollectErrors   = desc("berth_metrics_store_errors_total", "Failed readings of the database for metrics (the last good values are served).")
	dCollectDuration = desc("berth_metrics_store_read_seconds", "How long the last reading of the database for metrics took.")
)

// storeCollector reads the database at most once per TTL; concurrent
// scrapes wait for one reading.
type storeCollector struct {
	o        StoreOptions
	mu       sync.Mutex
	at       time.Time
	took     time.Duration
	errors   int
	dbUp     bool // the last reading succeeded
	projects []meta.ProjectFigures
	jobs     []meta.JobFigures
	figures  meta.StoreFigures
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dProjectTotal, dQuotaUsage, dQuota, dRepoTotal, dPulled, dArtifactTotal, dMemberTotal, dQueueSize,
		dJobExecutions, dStorage, dUploads, dBlobs, dBlobBytes, dGCFreed, dGCAt, dUp, dHealth, dCollectErrors, dCollectDuration} {
		ch <- d
	}
	if c.o.Capacity != nil {
		ch <- dCapacity
		ch <- dFree
	}
}

// refresh reads every family; a family whose query fails keeps its last
// values.
func (c *storeCollector) refresh() {
	if time.Since(c.at) < c.o.TTL {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.dbUp = true
	fail := func(what string, err error) {
		c.errors++
		c.dbUp = false
		if c.o.Logger != nil {
			c.o.Logger.Warn("reading metrics from the database", "family", what, "err", err)
		}
	}
	if ps, err := c.o.Store.ProjectFigures(ctx, MaxProjects); err != nil {
		fail("projects", err)
	} else {
		c.projects = ps
	}
	if js, err := c.o.Store.JobFigures(ctx); err != nil {
		fail("jobs", err)
	} else {
		c.jobs = js
	}
	if f, err := c.o.Store.StoreFigures(ctx); err != nil {
		fail("store", err)
	} else {
		c.figures = f
	}
	c.at, c.took = time.Now(), time.Since(start)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh()
	var public, private float64
	for _, p := range c.projects {
		pub := strconv.FormatBool(p.Public)
		if p.Public {
			public++
		} else {
			private++
		}
		ch <- gauge(dQuotaUsage, float64(p.Used), p.Name)
		ch <- gauge(dQuota, float64(p.Limit), p.Name)
		ch <- gauge(dRepoTotal, float64(p.Repos), p.Name, pub)
		ch <- gauge(dPulled, float64(p.Pulls), p.Name)
		ch <- gauge(dArtifactTotal, float64(p.Artifacts), p.Name, pub)
		ch <- gauge(dMemberTotal, float64(p.Members), p.Name)
	}
	ch <- gauge(dProjectTotal, public, "true")
	ch <- gauge(dProjectTotal, private, "false")
	pending := map[string]float64{}
	for _, j := range c.jobs {
		ch <- gauge(dJobExecutions, float64(j.Count), j.Kind, j.Status)
		if j.Status == meta.JobPending {
			pending[j.Kind] += float64(j.Count)
		} else if _, ok := pending[j.Kind]; !ok {
			pending[j.Kind] = 0
		}
	}
	for k, n := range pending {
		ch <- gauge(dQueueSize, n, k)
	}
	f := c.figures
	ch <- gauge(dStorage, float64(f.BlobBytes))
	ch <- gauge(dUploads, float64(f.Uploads))
	ch <- gauge(dBlobs, float64(f.Blobs))
	ch <- gauge(dBlobBytes, float64(f.BlobBytes))
	ch <- gauge(dGCFreed, float64(f.GCFreed))
	gcAt := 0.0
	if !f.GCAt.IsZero() {
		gcAt = float64(f.GCAt.UnixMilli()) / 1000
	}
	ch <- gauge(dGCAt, gcAt)
	db := 0.0
	if c.dbUp {
		db = 1
	}
	ch <- gauge(dUp, 1, "core")
	ch <- gauge(dUp, db, "database")
	ch <- gauge(dHealth, db)
	ch <- prometheus.MustNewConstMetric(dCollectErrors, prometheus.CounterValue, float64(c.errors))
	ch <- gauge(dCollectDuration, c.took.Seconds())
	if c.o.Capacity != nil {
		if total, free, err := c.o.Capacity(); err == nil {
			ch <- gauge(dCapacity, float64(total))
			ch <- gauge(dFree, float64(free))
		}
	}
}

var (
	dPoolOpen    = desc("berth_db_open_connections", "Open connections of a database pool.", "pool")
	dPoolInUse   = desc("berth_db_in_use_connections", "Connections of a database pool in use.", "pool")
	dPoolIdle    = desc("berth_db_idle_connections", "Idle connections of a database pool.", "pool")
	dPoolMax     = desc("berth_db_max_open_connections", "Most connections a database pool opens (0: no limit).", "pool")
	dPoolWaits   = desc("berth_db_wait_count_total", "Times a query waited for a free connection.", "pool")
	dPoolWaitSec = desc("berth_db_wait_duration_seconds_total", "Time queries spent waiting for a free connection.", "pool")
)

// poolCollector reports database/sql's pool statistics (no query).
type poolCollector struct {
	stats func() (write, read sql.DBStats, separate bool)
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dPoolOpen, dPoolInUse, dPoolIdle, dPoolMax, dPoolWaits, dPoolWaitSec} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	w, r, separate := c.stats()
	emit := func(pool string, s sql.DBStats) {
		ch <- gauge(dPoolOpen, float64(s.OpenConnections), pool)
		ch <- gauge(dPoolInUse, float64(s.InUse), pool)
		ch <- gauge(dPoolIdle, float64(s.Idle), pool)
		ch <- gauge(dPoolMax, float64(s.MaxOpenConnections), pool)
		ch <- prometheus.MustNewConstMetric(dPoolWaits, prometheus.CounterValue, float64(s.WaitCount), pool)
		ch <- prometheus.MustNewConstMetric(dPoolWaitSec, prometheus.CounterValue, s.WaitDuration.Seconds(), pool)
	}
	if !separate {
		emit("main", w)
		return
	}
	emit("write", w)
	emit("read", r)
}
