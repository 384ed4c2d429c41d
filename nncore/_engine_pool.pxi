# The Engine's workspace pool (included by _engine.pyx after the Engine class): a call takes
# a workspace, uses it alone, and gives it back.

cdef Workspace _take(Engine self, int m, bint grads, bint dense_x=True):
    """A workspace of at least m rows (with dW, db when grads; with the gather buffer of
    dense rows of X unless dense_x is False, as sparse X needs none) for one call: a free
    one from the pool, else a new one."""
    cdef Workspace ws
    cdef Py_ssize_t i
    for i in range(len(self._pool)):
        ws = <Workspace>self._pool[i]
        if ws.w.capacity >= m and (ws.grads or not grads) and (ws.has_x or not dense_x):
            del self._pool[i]
            return ws
    ws = Workspace([(self.layers[i].n_in, self.layers[i].n_out)
                    for i in range(self.n_layers)],
                   max(m, 1), self.n_in if dense_x else 0, self.dtype, grads,
                   [i for i in range(self.n_layers) if self.layers[i].drop_p > 0])
    ws.layout = self.layout
    return ws


cdef void _give(Engine self, Workspace ws):
    """Return a workspace after its call: kept when it is no larger than the last training
    batch (or a reading chunk), the pool has room and it was made since the last
    set_dropout, dropped otherwise, so that nothing sized by one large call outlives it."""
    if (ws.w.capacity <= self.keep_rows and len(self._pool) < POOL_SIZE
            and ws.layout == self.layout):
        self._pool.append(ws)


cdef void _keep(Engine self, int rows):
    # the last training batch size: workspaces of up to max(rows, PREDICT_CHUNK) rows are
    # kept; larger ones in the pool are dropped
    self.last_batch = rows
    self.keep_rows = max(rows, PREDICT_CHUNK)
    self._pool = [ws for ws in self._pool
                  if (<Workspace>ws).w.capacity <= self.keep_rows]


cdef inline void _rdlock(Engine self) noexcept:
    # hold the lock for reading: at once when no step waits or runs (no GIL round trip),
    # else waiting without the GIL, counted in readers_waiting (an epoch keeps the lock
    # from one step to the next until a reader waits)
    if pthread_rwlock_tryrdlock(&self.lock) != 0:
        with nogil:
            _rdlock_wait(self)


cdef inline void _rdlock_wait(Engine self) noexcept nogil:
    nncore_atomic_add(&self.readers_waiting, 1)
    pthread_rwlock_rdlock(&self.lock)
    nncore_atomic_add(&self.readers_waiting, -1)
