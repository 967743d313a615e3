package bbolt

// SetUnsafeNoSync makes the WALs opened after it commit with bbolt's NoSync,
// acknowledging Appends before fsync: a backend the power-loss cases must
// catch.
func SetUnsafeNoSync(on bool) { unsafeNoSync = on }
