package server

// DropVerifyCaches forgets everything Verify keeps between calls, as a restart would: for benchmarks of
// decisions made from the database and the log alone.
func (s *Server) DropVerifyCaches() {
	s.cache = newVerifyCache()
}
