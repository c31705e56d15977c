package harborapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/artifact"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/configure"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/project"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/quota"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// TestQuotas: Harbor's quota operations through its client, with what a
// limit does to a go-containerregistry push (403 DENIED, Harbor's
// message) and what deleting an artifact gives back.
func TestQuotas(t *testing.T) {
	c := client(t)
	proj := newProject(t, c)
	yes := true
	pid := must(c.Project.GetProject(ctx(t), project.NewGetProjectParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes)))(t).Payload.ProjectID
	d := pushImage(t, proj+"/app", "v1")

	list := must(c.Quota.ListQuotas(ctx(t), quota.NewListQuotasParams().WithReference(ptr("project")).
		WithReferenceID(ptr(fmt.Sprint(pid)))))(t)
	if list.XTotalCount != 1 || len(list.Payload) != 1 {
		t.Fatalf("listQuotas by reference_id: %d %s", list.XTotalCount, dump(list.Payload))
	}
	q := list.Payload[0]
	ref, _ := q.Ref.(map[string]any)
	used := q.Used["storage"]
	if q.ID != int64(pid) || ref["name"] != proj || fmt.Sprint(ref["id"]) != fmt.Sprint(pid) || ref["owner_name"] != "admin" ||
		q.Hard["storage"] != -1 || used < 1024 || time_(q.CreationTime.String()) == "" {
		t.Fatalf("quota %s", dump(q))
	}
	got := must(c.Quota.GetQuota(ctx(t), quota.NewGetQuotaParams().WithID(q.ID)))(t).Payload
	if got.ID != q.ID || got.Used["storage"] != used {
		t.Fatalf("getQuota %s", dump(got))
	}
	sorted := must(c.Quota.ListQuotas(ctx(t), quota.NewListQuotasParams().WithSort(ptr("-used.storage")).
		WithPage(ptr(int64(1))).WithPageSize(ptr(int64(100)))))(t).Payload
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Used["storage"] > sorted[i-1].Used["storage"] {
			t.Fatalf("listQuotas sort=-used.storage out of order: %s", dump(sorted))
		}
	}

	// A limit with room for 100 more bytes: the next image is refused.
	must(c.Quota.UpdateQuota(ctx(t), quota.NewUpdateQuotaParams().WithID(q.ID).
		WithHard(&models.QuotaUpdateReq{Hard: models.ResourceList{"storage": used + 100}})))(t)
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = pushImg(t, proj+"/app", "v2", img)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden || len(te.Errors) == 0 || te.Errors[0].Code != "DENIED" ||
		!strings.HasPrefix(te.Errors[0].Message, "adding ") ||
		!strings.Contains(te.Errors[0].Message, "will exceed the configured upper limit of ") {
		t.Fatalf("a push past the limit: %v", err)
	}
	sum := must(c.Project.GetProjectSummary(ctx(t), project.NewGetProjectSummaryParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes)))(t).Payload
	if sum.Quota == nil || sum.Quota.Used["storage"] != used || sum.Quota.Hard["storage"] != used+100 {
		t.Fatalf("summary after a refused push: %s", dump(sum.Quota))
	}

	// Deleting the artifact releases what it held at once.
	must(c.Artifact.DeleteArtifact(ctx(t), artifact.NewDeleteArtifactParams().WithProjectName(proj).
		WithRepositoryName("app").WithReference(d)))(t)
	if got := must(c.Quota.GetQuota(ctx(t), quota.NewGetQuotaParams().WithID(q.ID)))(t).Payload; got.Used["storage"] != 0 {
		t.Fatalf("after deleting the artifact: %s", dump(got))
	}
	if err := pushImg(t, proj+"/app", "v2", img); err != nil {
		t.Fatalf("push after the delete: %v", err)
	}

	// Harbor's refusals.
	if _, err := c.Quota.UpdateQuota(ctx(t), quota.NewUpdateQuotaParams().WithID(q.ID).
		WithHard(&models.QuotaUpdateReq{Hard: models.ResourceList{"storage": 0}})); !isStatus(err, 400) {
		t.Errorf("updateQuota to 0: %v", describe(err))
	}
	if _, err := c.Quota.GetQuota(ctx(t), quota.NewGetQuotaParams().WithID(1<<40)); !isStatus(err, 404) {
		t.Errorf("getQuota of no project: %v", describe(err))
	}
	u := newUser(t, c)
	if _, err := clientAs(t, u.Username, userPassword).Quota.ListQuotas(ctx(t), quota.NewListQuotasParams()); !isStatus(err, 403) {
		t.Errorf("listQuotas as a user: %v", describe(err))
	}
}

// time_ is a time's text, "" for the zero time.
func time_(s string) string {
	if strings.HasPrefix(s, "0001-01-01") {
		return ""
	}
	return s
}

// TestDefaultStorageLimit: storage_per_project is editable and is the
// quota of a project created without one.
func TestDefaultStorageLimit(t *testing.T) {
	c := client(t)
	cfg := must(c.Configure.GetConfigurations(ctx(t), configure.NewGetConfigurationsParams()))(t).Payload
	if cfg.StoragePerProject == nil || !cfg.StoragePerProject.Editable || cfg.StoragePerProject.Value != -1 ||
		cfg.QuotaPerProjectEnable == nil || !cfg.QuotaPerProjectEnable.Value {
		t.Fatalf("configurations: %s %s", dump(cfg.StoragePerProject), dump(cfg.QuotaPerProjectEnable))
	}
	t.Cleanup(func() { // t's context has ended by now
		must(c.Configure.UpdateConfigurations(context.Background(), configure.NewUpdateConfigurationsParams().
			WithConfigurations(&models.Configurations{StoragePerProject: ptr(int64(-1))})))(t)
	})
	must(c.Configure.UpdateConfigurations(ctx(t), configure.NewUpdateConfigurationsParams().
		WithConfigurations(&models.Configurations{StoragePerProject: ptr(int64(5 << 30))})))(t)
	proj := newProject(t, c)
	yes := true
	sum := must(c.Project.GetProjectSummary(ctx(t), project.NewGetProjectSummaryParams().WithProjectNameOrID(proj).
		WithXIsResourceName(&yes)))(t).Payload
	if sum.Quota == nil || sum.Quota.Hard["storage"] != 5<<30 || sum.Quota.Used["storage"] != 0 {
		t.Fatalf("a new project's quota: %s", dump(sum.Quota))
	}
}
