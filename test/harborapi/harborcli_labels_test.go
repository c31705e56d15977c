package harborapi

import (
	"testing"

	"github.com/goharbor/go-client/pkg/sdk/v2.0/client/label"
	"github.com/goharbor/go-client/pkg/sdk/v2.0/models"
)

// TestHarborCLILabels replays harbor label create, list, update and
// delete on a global label. update and delete find the label by name with
// pkg/api/label_handler.go GetLabelIdByName: ListLabel with only scope
// and project_id set, so page=0&page_size=0 (all) and project_id=0.
func TestHarborCLILabels(t *testing.T) {
	c := client(t)
	name := unique("cli-label")

	t.Run("label create", func(t *testing.T) {
		// harbor label create --name L --description D —
		// cmd/harbor/root/labels/create.go (defaults --color #FFFFFF
		// --scope g; a project is looked up only for scope p),
		// pkg/api/label_handler.go CreateLabel. models.Label's times are
		// not pointers, so the zero times go out too.
		cli(t, `POST /labels {"color":"#FFFFFF","creation_time":"`+zeroTime+`","description":"from harbor-cli","name":"`+name+
			`","scope":"g","update_time":"`+zeroTime+`"}`)
		must(c.Label.CreateLabel(ctx(t), &label.CreateLabelParams{Label: &models.Label{
			Name: name, Color: "#FFFFFF", Description: "from harbor-cli", Scope: "g", ProjectID: 0,
		}}))(t)
	})

	t.Run("label list", func(t *testing.T) {
		// harbor label list — cmd/harbor/root/labels/list.go (defaults
		// --page 1 --page-size 20, scope g), ListLabel.
		r := cli(t, "GET /labels?page=1&page_size=20&project_id=0&scope=g")
		l := labelList(t, c, 1, 20)
		r.check()
		if labelID(l, name) == 0 {
			t.Errorf("label %s not listed", name)
		}
	})

	t.Run("label update", func(t *testing.T) {
		// harbor label update L --description D2 —
		// cmd/harbor/root/labels/update.go: the id by name, the label
		// (GetLabel), its fields in a form (prefilled; --description
		// changed), then UpdateLabel with name, color, description, scope.
		r := cli(t, "GET /labels?page=0&page_size=0&project_id=0&scope=g")
		id := labelID(labelList(t, c, 0, 0), name)
		if id == 0 {
			t.Fatalf("label %s not found", name)
		}
		r.expect(idPath("GET /labels/%d", id),
			idPath(`PUT /labels/%d {"color":"#FFFFFF","creation_time":"`+zeroTime+`","description":"changed by harbor-cli","name":"`+name+
				`","scope":"g","update_time":"`+zeroTime+`"}`, id))
		old := must(c.Label.GetLabelByID(ctx(t), &label.GetLabelByIDParams{LabelID: id}))(t).Payload
		must(c.Label.UpdateLabel(ctx(t), &label.UpdateLabelParams{LabelID: id, Label: &models.Label{
			Name: old.Name, Color: old.Color, Description: "changed by harbor-cli", Scope: old.Scope,
		}}))(t)
	})

	t.Run("label delete", func(t *testing.T) {
		// harbor label delete L — cmd/harbor/root/labels/delete.go: the id
		// by name, then DeleteLabel.
		r := cli(t, "GET /labels?page=0&page_size=0&project_id=0&scope=g")
		id := labelID(labelList(t, c, 0, 0), name)
		if id == 0 {
			t.Fatalf("label %s not found", name)
		}
		r.expect(idPath("DELETE /labels/%d", id))
		must(c.Label.DeleteLabel(ctx(t), &label.DeleteLabelParams{LabelID: id}))(t)
	})
}

// labelList is pkg/api/label_handler.go ListLabel for global labels.
func labelList(t *testing.T, c harborClient, page, size int64) []*models.Label {
	t.Helper()
	q, sort, scope, pid := "", "", "g", int64(0)
	return must(c.Label.ListLabels(ctx(t), &label.ListLabelsParams{
		Page: &page, PageSize: &size, Q: &q, Sort: &sort, Scope: &scope, ProjectID: &pid}))(t).Payload
}

func labelID(list []*models.Label, name string) int64 {
	for _, l := range list {
		if l.Name == name {
			return l.ID
		}
	}
	return 0
}
