package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// registries: GET /admin/registries: the endpoints replication and proxy
// caches reach (Harbor's /registries), with their health, and the form
// for a new one offering the adapters the API has.
func (s *Server) registries(p *page) error {
	var l list
	h, err := p.get("/registries", p.listQ(), &l)
	if err != nil {
		return err
	}
	var adapters []string
	if _, err := p.get("/replication/adapters", nil, &adapters); err != nil {
		return err
	}
	return p.admin("registries", "Registries", "/admin/registries", obj{"registries": l, "adapters": adapters,
		"pager": p.pager(h, p.pageNum())})
}

// createRegistry: POST /admin/registries (name, type, URL, access key and
// secret, insecure). The secret goes to the API once and is never shown.
func (s *Server) createRegistry(p *page) error {
	f := p.r.PostForm
	body := obj{"name": strings.TrimSpace(f.Get("name")), "type": f.Get("type"), "url": strings.TrimSpace(f.Get("url")),
		"description": f.Get("description"), "insecure": f.Get("insecure") == "on"}
	if key := strings.TrimSpace(f.Get("access_key")); key != "" {
		body["credential"] = obj{"type": "basic", "access_key": key, "access_secret": f.Get("access_secret")}
	}
	if _, err := p.call(http.MethodPost, "/registries", body, nil); err != nil {
		return p.back("/admin/registries", err)
	}
	return p.done("/admin/registries", "Registry created.")
}

// changeRegistry: POST /admin/registries/{id}: action=ping checks the
// endpoint now, action=delete removes it.
func (s *Server) changeRegistry(p *page) error {
	id := p.r.PathValue("id")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return p.done("/admin/registries", "Registry not found.")
	}
	if p.r.PostForm.Get("action") == "delete" {
		if _, err := p.call(http.MethodDelete, "/registries/"+url.PathEscape(id), nil, nil); err != nil {
			return p.back("/admin/registries", err)
		}
		return p.done("/admin/registries", "Registry deleted.")
	}
	if _, err := p.call(http.MethodPost, "/registries/ping", obj{"id": n}, nil); err != nil {
		return p.back("/admin/registries", err)
	}
	return p.done("/admin/registries", "The registry answers.")
}

// replication: GET /admin/replication: the replication policies, the
// latest executions of one (?policy=ID) and the form for a new policy.
func (s *Server) replication(p *page) error {
	var l list
	h, err := p.get("/replication/policies", p.listQ(), &l)
	if err != nil {
		return err
	}
	var regs list
	if _, err := p.get("/registries", url.Values{"page_size": {"100"}}, &regs); err != nil {
		return err
	}
	data := obj{"policies": l, "registries": regs, "pager": p.pager(h, p.pageNum())}
	if id := p.r.URL.Query().Get("policy"); id != "" {
		var runs list
		q := url.Values{"policy_id": {id}, "page": {"1"}, "page_size": {"20"}, "sort": {"-start_time"}}
		if _, err := p.get("/replication/executions", q, &runs); err != nil {
			return err
		}
		data["policy"], data["runs"] = id, runs
	}
	return p.admin("replication", "Replication", "/admin/replication", data)
}

// createReplication: POST /admin/replication: a push (to a registry) or
// pull (from one) policy with a name filter, a tag filter, a trigger and
// a destination namespace.
func (s *Server) createReplication(p *page) error {
	f := p.r.PostForm
	reg, err := strconv.ParseInt(f.Get("registry"), 10, 64)
	if err != nil {
		return p.done("/admin/replication", "Choose a registry.")
	}
	body := obj{"name": strings.TrimSpace(f.Get("name")), "description": f.Get("description"), "enabled": true,
		"override": f.Get("override") == "on", "replicate_deletion": f.Get("replicate_deletion") == "on",
		"dest_namespace": strings.TrimSpace(f.Get("dest_namespace"))}
	if f.Get("mode") == "pull" {
		body["src_registry"] = obj{"id": reg}
	} else {
		body["dest_registry"] = obj{"id": reg}
	}
	var filters []obj
	if v := strings.TrimSpace(f.Get("name_filter")); v != "" {
		filters = append(filters, obj{"type": "name", "value": v})
	}
	if v := strings.TrimSpace(f.Get("tag_filter")); v != "" {
		filters = append(filters, obj{"type": "tag", "value": v, "decoration": "matches"})
	}
	body["filters"] = filters
	trigger := obj{"type": f.Get("trigger")}
	if f.Get("trigger") == "scheduled" {
		trigger["trigger_settings"] = obj{"cron": strings.TrimSpace(f.Get("cron"))}
	}
	body["trigger"] = trigger
	if _, err := p.call(http.MethodPost, "/replication/policies", body, nil); err != nil {
		return p.back("/admin/replication", err)
	}
	return p.done("/admin/replication", "Replication policy created.")
}

// changeReplication: POST /admin/replication/{id}: action=run starts an
// execution now, action=stop stops one of its executions (Harbor refuses
// to delete a policy while one runs), action=delete removes the policy.
func (s *Server) changeReplication(p *page) error {
	id := p.r.PathValue("id")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return p.done("/admin/replication", "Replication policy not found.")
	}
	if exec := p.r.PostForm.Get("execution"); p.r.PostForm.Get("action") == "stop" {
		to := "/admin/replication?policy=" + url.QueryEscape(id) + "#runs"
		if _, err := strconv.ParseInt(exec, 10, 64); err != nil {
			return p.done(to, "Execution not found.")
		}
		if _, err := p.call(http.MethodPut, "/replication/executions/"+url.PathEscape(exec), nil, nil); err != nil {
			return p.back(to, err)
		}
		return p.done(to, "Stop requested.")
	}
	if p.r.PostForm.Get("action") == "delete" {
		if _, err := p.call(http.MethodDelete, "/replication/policies/"+url.PathEscape(id), nil, nil); err != nil {
			return p.back("/admin/replication", err)
		}
		return p.done("/admin/replication", "Replication policy deleted.")
	}
	if _, err := p.call(http.MethodPost, "/replication/executions", obj{"policy_id": n}, nil); err != nil {
		return p.back("/admin/replication", err)
	}
	return p.done("/admin/replication?policy="+url.QueryEscape(id)+"#runs", "Replication started.")
}
