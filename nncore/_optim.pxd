# Optimizer updates of nncore's core: declarations that the engine cimports.
#
# One elementwise kernel per update rule, over a parameter array w, its gradient g and the
# optimizer's state arrays of the same size (s0, s1, s2; which ones a rule uses is below). The
# rules are torch.optim's (SGD, Adam, AdamW, RMSprop), as the docs' training page and
# python/nncore/optimizers.py state them. Kernels trust their input and never allocate.

from libc.stdint cimport int64_t
from cython cimport floating

# Optimizer kinds; the Python side names them in nncore.optimizers.
cdef enum:
    OPT_SGD = 0        # s0 = momentum buffer (momentum > 0)
    OPT_ADAM = 1       # s0 = m, s1 = v, s2 = running max of v (amsgrad)
    OPT_ADAMW = 2      # as Adam; the decay multiplies W first
    OPT_RMSPROP = 3    # s0 = square average v, s1 = momentum buffer (momentum > 0)

cdef struct OptC:
    int kind
    double momentum      # SGD, RMSprop
    bint nesterov        # SGD
    double beta1         # Adam(W)
    double beta2         # Adam(W)
    double alpha         # RMSprop
    double eps           # Adam(W), RMSprop
    double weight_decay
    bint amsgrad         # Adam(W)
    int64_t* step        # the step count t, owned by the Python optimizer (1 int64)
    # gradient clipping before the update, at most one of them on (0: off; the engine's pass
    # applies it, as torch.nn.utils' clip_grad_norm_ and clip_grad_value_ do):
    double clip_norm     # > 0: every gradient scaled by min(1, clip_norm / (norm + 1e-6)),
                         # norm the L2 norm of all the network's gradient values together
    double clip_value    # > 0: each gradient value clamped to [-clip_value, clip_value]
    # per step, from opt_begin_step:
    double bc1           # 1 - beta1**t
    double bc2_sqrt      # sqrt(1 - beta2**t)

# One parameter array as an update takes it: its n values (in the network's dtype, or
# float64 for a sigmoid's (c, beta)), the rule's state arrays beside them, and whether weight
# decay applies to it (W: yes; b and the sigmoid's c, beta: no).
cdef struct ParamC:
    void* w              # (n,) the values, updated in place
    void** state         # 3 slots: the state arrays s0, s1, s2 of the rule (see the kinds),
                         # NULL where the rule keeps none
    Py_ssize_t n
    bint decay

# t += 1 and the bias corrections of step t: call once per step, before its updates.
cdef void opt_begin_step(OptC* o) noexcept nogil

# One step of the rule on the n values of p, from their gradient g (n,).
cdef void opt_update(const OptC* o, ParamC p, const floating* g,
                     floating lr) noexcept nogil
