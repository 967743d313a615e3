package backend

// QueuedAppends returns how many Appends wait in w's group-commit queue for
// the leader's driver Append to finish, so a test can release the leader only
// once every caller has queued.
func QueuedAppends(w WAL) int {
	x := w.(*wal)
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.queue)
}
