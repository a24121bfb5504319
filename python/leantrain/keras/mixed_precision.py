"""keras.mixed_precision: leantrain computes in float32; the "float32" policy is the only one
it runs today, and asking for another raises NotImplementedError rather than training in a
precision the user did not get."""


class DTypePolicy:
    def __init__(self, name="float32"):
        if name != "float32":
            raise NotImplementedError(f"dtype policy {name!r}: leantrain computes in float32 "
                                      "only (see compile(bf16_storage=True) for bf16 storage of "
                                      "kept activations)")
        self.name = name
        self.compute_dtype = "float32"
        self.variable_dtype = "float32"

    def __repr__(self):
        return f'<DTypePolicy "{self.name}">'


Policy = DTypePolicy
_policy = DTypePolicy("float32")


def set_global_policy(policy):
    global _policy
    _policy = policy if isinstance(policy, DTypePolicy) else DTypePolicy(policy)


def global_policy():
    return _policy


def set_dtype_policy(policy):
    set_global_policy(policy)


def dtype_policy():
    return _policy
