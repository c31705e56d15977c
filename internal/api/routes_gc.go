package api

// gcRoutes: Harbor's garbage collection (tag "gc"): its history, runs,
// logs and schedule (system administrators).
func (s *Server) gcRoutes() []route {
	return []route{
		{"GET", "/system/gc", s.getGCHistory},
		{"GET", "/system/gc/schedule", s.getGCSchedule},
		{"POST", "/system/gc/schedule", s.createGCSchedule},
		{"PUT", "/system/gc/schedule", s.updateGCSchedule},
		{"GET", "/system/gc/{gc_id}", s.getGC},
		{"PUT", "/system/gc/{gc_id}", s.stopGC},
		{"GET", "/system/gc/{gc_id}/log", s.getGCLog},
	}
}
