package harborapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-openapi/swag"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/gc"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// runGC starts a garbage collection now through Harbor's client, as
// Harbor's UI does, waits for it to end and returns it.
func runGC(t *testing.T, c harborClient, params map[string]any) *models.GCHistory {
	t.Helper()
	created := must(c.GC.CreateGCSchedule(ctx(t), gc.NewCreateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Manual"}, Parameters: params})))(t)
	id, err := strconv.ParseInt(created.Location[strings.LastIndexByte(created.Location, '/')+1:], 10, 64)
	if err != nil || !strings.HasSuffix(created.Location, "/api/v2.0/system/gc/"+strconv.FormatInt(id, 10)) {
		t.Fatalf("createGCSchedule Location = %q", created.Location)
	}
	var job *models.GCHistory
	await(t, func() (bool, string) {
		job = must(c.GC.GetGC(ctx(t), gc.NewGetGCParams().WithGCID(id)))(t).Payload
		return job.JobStatus == "Success", "GC " + dump(job)
	})
	if job.ID != id || job.JobName != "GARBAGE_COLLECTION" || job.JobKind != "MANUAL" || job.Schedule == nil ||
		job.Schedule.Type != "Manual" || time.Time(job.CreationTime).IsZero() || time.Time(job.UpdateTime).IsZero() {
		t.Fatalf("getGC = %s", dump(job))
	}
	return job
}

func jobParameters(t *testing.T, h *models.GCHistory) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(h.JobParameters), &m); err != nil {
		t.Fatalf("job_parameters %q: %v", h.JobParameters, err)
	}
	return m
}

// TestGC: Harbor's garbage collection through its client: an image is
// deleted, a dry run reports its blobs, the real run deletes exactly
// them (the registry no longer serves them), the runs are listed with
// their logs, a stop is answered, and a schedule is set, shown and
// removed.
func TestGC(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	repo := proj + "/gc"
	d := pushImage(t, repo, "doomed")
	img, err := remote.Image(must2(name.ParseReference(server(t).Addr+"/"+repo+"@"+d, name.Insecure))(t),
		remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPassword}), remote.WithTransport(loopback), remote.WithContext(ctx(t)))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers: %v", err)
	}
	layer, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	must(c.Artifact.DeleteArtifact(ctx(t), &artifact.DeleteArtifactParams{ProjectName: proj, RepositoryName: "gc", Reference: d}))(t)

	// time_window 0: the blobs of the image deleted just now are garbage.
	params := map[string]any{"delete_untagged": false, "dry_run": true, "workers": 2, "time_window": 0}
	dry := runGC(t, c, params)
	dp := jobParameters(t, dry)
	if dp["dry_run"] != true || dp["workers"] != 2.0 || dp["time_window"] != 0.0 || dp["purged_blobs"].(float64) < 3 {
		t.Fatalf("dry run job_parameters = %s", dry.JobParameters)
	}
	log := must(c.GC.GetGCLog(ctx(t), gc.NewGetGCLogParams().WithGCID(dry.ID)))(t).Payload
	if !strings.Contains(log, "dry run") || !strings.Contains(log, "would delete") {
		t.Fatalf("getGCLog = %q", log)
	}
	if st := blobStatus(t, repo, layer.String()); st != http.StatusOK {
		t.Fatalf("after the dry run the layer answers %d", st)
	}

	params["dry_run"] = false
	real := runGC(t, c, params)
	rp := jobParameters(t, real)
	for _, k := range []string{"purged_blobs", "freed_space", "unlinked_blobs"} {
		if rp[k] != dp[k] {
			t.Fatalf("%s: dry run %v, real run %v", k, dp[k], rp[k])
		}
	}
	if st := blobStatus(t, repo, layer.String()); st != http.StatusNotFound {
		t.Fatalf("after GC the layer answers %d, want 404", st)
	}
	log = must(c.GC.GetGCLog(ctx(t), gc.NewGetGCLogParams().WithGCID(real.ID)))(t).Payload
	if !strings.Contains(log, "deleted") || !strings.Contains(log, "bytes freed") {
		t.Fatalf("getGCLog = %q", log)
	}

	history := must(c.GC.GetGCHistory(ctx(t), gc.NewGetGCHistoryParams().WithPage(swag.Int64(1)).WithPageSize(swag.Int64(10)).
		WithQ(swag.String("status=Success")).WithSort(swag.String("-creation_time"))))(t)
	if history.XTotalCount < 2 || len(history.Payload) < 2 || history.Payload[0].ID != real.ID || history.Payload[1].ID != dry.ID {
		t.Fatalf("getGCHistory = %d %s", history.XTotalCount, dump(history.Payload))
	}
	// Stopping a finished run is answered and changes nothing, as in Harbor.
	must(c.GC.StopGC(ctx(t), gc.NewStopGCParams().WithGCID(real.ID)))(t)
	if _, err := c.GC.GetGC(ctx(t), gc.NewGetGCParams().WithGCID(real.ID+1000)); !isStatus(err, 404) {
		t.Fatalf("getGC of a missing run = %v, want 404", err)
	}
	if _, err := c.GC.CreateGCSchedule(ctx(t), gc.NewCreateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Manual"}, Parameters: map[string]any{"workers": 11}})); !isStatus(err, 400) {
		t.Fatalf("createGCSchedule with 11 workers = %v, want 400", err)
	}

	// No schedule: an empty answer, which the client decodes as empty.
	none := must(c.GC.GetGCSchedule(ctx(t), gc.NewGetGCScheduleParams()))(t).Payload
	if none == nil || none.Schedule != nil || none.JobParameters != "" {
		t.Fatalf("getGCSchedule without one = %s", dump(none))
	}
	nightly := map[string]any{"delete_untagged": true, "workers": 1, "time_window": 2}
	must(c.GC.UpdateGCSchedule(ctx(t), gc.NewUpdateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Custom", Cron: "0 0 2 * * *"}, Parameters: nightly})))(t)
	sch := must(c.GC.GetGCSchedule(ctx(t), gc.NewGetGCScheduleParams()))(t).Payload
	next := time.Time(sch.Schedule.NextScheduledTime)
	if sch.Schedule == nil || sch.Schedule.Type != "Custom" || sch.Schedule.Cron != "0 0 2 * * *" || sch.JobKind != "0 0 2 * * *" ||
		!next.After(time.Now()) || next.UTC().Format("15:04:05") != "02:00:00" ||
		sch.JobParameters != `{"delete_untagged":true,"dry_run":false,"time_window":2,"workers":1}` {
		t.Fatalf("getGCSchedule = %s", dump(sch))
	}
	if _, err := c.GC.UpdateGCSchedule(ctx(t), gc.NewUpdateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Custom", Cron: "* * * * * *"}, Parameters: nightly})); !isStatus(err, 400) {
		t.Fatalf("updateGCSchedule with seconds = %v, want 400", err)
	}
	must(c.GC.CreateGCSchedule(ctx(t), gc.NewCreateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "Daily"}, Parameters: nightly})))(t)
	if sch := must(c.GC.GetGCSchedule(ctx(t), gc.NewGetGCScheduleParams()))(t).Payload; sch.Schedule.Cron != "0 0 0 * * *" {
		t.Fatalf("daily schedule = %s", dump(sch))
	}
	must(c.GC.UpdateGCSchedule(ctx(t), gc.NewUpdateGCScheduleParams().WithSchedule(&models.Schedule{
		Schedule: &models.ScheduleObj{Type: "None"}})))(t)
	if sch := must(c.GC.GetGCSchedule(ctx(t), gc.NewGetGCScheduleParams()))(t).Payload; sch.Schedule != nil {
		t.Fatalf("after None: %s", dump(sch))
	}
}

// must2 is must for a call that is not a go-client one.
func must2[R any](v R, err error) func(testing.TB) R {
	return func(t testing.TB) R {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// blobStatus is the status of GET /v2/repo/blobs/d as the administrator.
func blobStatus(t *testing.T, repo, d string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), "GET", server(t).URL+"/v2/"+repo+"/blobs/"+d, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	resp, err := loopback.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
