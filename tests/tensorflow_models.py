"""TensorFlow / Keras models built in code for the TensorFlow frontend tests and the benchmark:
random weights and BatchNorm statistics set to non-trivial values, saved as SavedModel, frozen
GraphDef (.pb), .keras and TF1 MetaGraph + checkpoint."""

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

keras = tf.keras


def randomize_batchnorm(model, seed=0):
    """Moving mean/variance and gamma/beta away from 0/1, so folding them is really checked."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            kinds = (["gamma"] if layer.scale else []) + (["beta"] if layer.center else []) + ["mean", "var"]
            new = []
            for w, kind in zip(layer.get_weights(), kinds):
                if kind == "var":
                    new.append(rng.uniform(0.5, 2.0, w.shape).astype(np.float32))
                elif kind == "gamma":
                    new.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
                else:
                    new.append(rng.normal(0, 0.2, w.shape).astype(np.float32))
            layer.set_weights(new)
    return model


def small_cnn():
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", strides=2)(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.AveragePooling2D(2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, activation="softmax")(x)
    return randomize_batchnorm(keras.Model(inp, x))


def application(name, size):
    fn = getattr(keras.applications, name)
    return randomize_batchnorm(fn(weights=None, input_shape=(size, size, 3), classes=10))


def bert_encoder(vocab=100, seq=16, dim=32, heads=4, layers=2):
    ids = keras.Input((seq,), dtype="int32", name="input_ids")
    pos = keras.ops.arange(seq)
    x = keras.layers.Embedding(vocab, dim)(ids) + keras.layers.Embedding(seq, dim)(pos)
    x = keras.layers.LayerNormalization(epsilon=1e-12)(x)
    for _ in range(layers):
        a = keras.layers.MultiHeadAttention(heads, dim // heads)(x, x)
        x = keras.layers.LayerNormalization(epsilon=1e-12)(x + a)
        h = keras.layers.Dense(dim * 4, activation="gelu")(x)
        x = keras.layers.LayerNormalization(epsilon=1e-12)(x + keras.layers.Dense(dim)(h))
    pooled = keras.layers.Dense(dim, activation="tanh")(x[:, 0, :])
    return keras.Model(ids, [x, pooled])


def save_saved_model(model, folder):
    model.export(folder, verbose=False)
    return folder


def save_frozen_pb(model, path):
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = [tf.TensorSpec([1] + list(i.shape[1:]), i.dtype, name=i.name) for i in model.inputs]
    fn = tf.function(lambda *a: model(list(a) if len(a) > 1 else a[0], training=False)).get_concrete_function(*spec)
    frozen = convert_variables_to_constants_v2(fn)
    tf.io.write_graph(frozen.graph.as_graph_def(), os.path.dirname(path), os.path.basename(path), as_text=False)
    return path, [t.name.split(":")[0] for t in frozen.inputs], frozen


def save_three_forms(model, folder):
    """The model as a SavedModel (Keras' own model.export), a frozen .pb (TF's
    convert_variables_to_constants_v2) and a .keras file."""
    os.makedirs(folder, exist_ok=True)
    files = {"saved_model": os.path.join(folder, "saved_model"), "frozen_pb": os.path.join(folder, "frozen.pb"),
             "keras": os.path.join(folder, "model.keras")}
    save_saved_model(model, files["saved_model"])
    save_frozen_pb(model, files["frozen_pb"])
    model.save(files["keras"])
    return files


def tf1_batchnorm_graph(folder, with_default):
    """A TF1-style graph saved as .meta + checkpoint: placeholders, variables, a conv and two
    batch norms whose statistics v1 tf.conds (Switch/Merge) pick by `is_training`: one built
    from tf.nn.moments (a cond with two outputs), one as tf.compat.v1.layers.batch_normalization
    (fused=True) builds it (FusedBatchNormV3 in training or inference mode, three outputs);
    then a cond whose branches are constants (the layer's momentum) and a cond nested in another.
    Returns the .meta path, an input, and TensorFlow's outputs {"out", "stats"} for
    is_training False and True."""
    g = tf.Graph()
    rng = np.random.default_rng(3)
    v1 = tf.compat.v1
    with g.as_default():
        v1.disable_control_flow_v2()
        x = v1.placeholder(tf.float32, [1, 8, 8, 3], name="x")
        if with_default:
            is_training = v1.placeholder_with_default(False, [], name="is_training")
        else:
            is_training = v1.placeholder(tf.bool, [], name="is_training")

        def var(name, value):
            return v1.Variable(value.astype(np.float32), name=name)

        w = var("w", rng.normal(0, 0.3, (3, 3, 3, 4)))
        mean, variance = var("moving_mean", rng.normal(0, 0.2, 4)), var("moving_variance", rng.uniform(0.5, 2, 4))
        gamma, beta = var("gamma", rng.uniform(0.5, 1.5, 4)), var("beta", rng.normal(0, 0.2, 4))
        mean2, variance2 = var("bn2/moving_mean", rng.normal(0, 0.2, 4)), var("bn2/moving_variance", rng.uniform(0.5, 2, 4))
        gamma2, beta2 = var("bn2/gamma", rng.uniform(0.5, 1.5, 4)), var("bn2/beta", rng.normal(0, 0.2, 4))
        y = tf.nn.conv2d(x, w, 1, "SAME")
        m, v = v1.cond(is_training, lambda: tf.nn.moments(y, [0, 1, 2]), lambda: (tf.identity(mean), tf.identity(variance)))
        h = tf.nn.relu(tf.nn.batch_normalization(y, m, v, beta, gamma, 1e-3))
        h2, batch_mean, batch_var = v1.cond(
            is_training,
            lambda: v1.nn.fused_batch_norm(h, gamma2, beta2, epsilon=1e-3, is_training=True),
            lambda: v1.nn.fused_batch_norm(h, gamma2, beta2, mean2, variance2, epsilon=1e-3, is_training=False))
        momentum = v1.cond(is_training, lambda: tf.constant(0.99), lambda: tf.constant(1.0))
        positive = tf.reduce_sum(h2) > 0
        h3 = v1.cond(is_training, lambda: v1.cond(positive, lambda: h2 * 2.0, lambda: h2 - 1.0), lambda: h2 + 0.5)
        out = tf.multiply(h3, momentum, name="out")
        stats = tf.add(batch_mean, batch_var * 0.5, name="stats")
        saver = v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            prefix = saver.save(sess, os.path.join(folder, "model.ckpt"))
            feed = rng.normal(size=(1, 8, 8, 3)).astype(np.float32)
            refs = {flag: dict(zip(("out", "stats"), sess.run([out, stats], {x: feed, is_training: flag}))) for flag in (False, True)}
        v1.enable_control_flow_v2()
    return prefix + ".meta", feed, refs


def tf1_layers_batchnorm_graph(folder):
    """tf.compat.v1.layers.batch_normalization(training=is_training), fused and not, in a TF1
    graph saved as .meta + checkpoint with non-trivial moving statistics. Under Keras 3 that
    function is gone from tf.compat.v1.layers; it is tf_keras' legacy_tf_layers one (what
    tf.compat.v1.layers holds when TF_USE_LEGACY_KERAS=1). Returns the .meta path, an input and
    TensorFlow's "out" for is_training False and True."""
    from tf_keras.src.legacy_tf_layers.normalization import batch_normalization

    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        v1.disable_control_flow_v2()
        x = v1.placeholder(tf.float32, [2, 6, 6, 3], name="x")
        is_training = v1.placeholder(tf.bool, [], name="is_training")
        h = batch_normalization(x, training=is_training, fused=True)
        h = batch_normalization(tf.nn.relu(h), training=is_training, fused=False)
        out = tf.multiply(h, 2.0, name="out")
        saver = v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            rng = np.random.default_rng(21)
            for var in v1.global_variables():
                sess.run(var.assign(rng.uniform(0.5, 1.5, var.shape).astype(np.float32)))
            prefix = saver.save(sess, os.path.join(folder, "model.ckpt"))
            feed = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
            refs = {flag: sess.run(out, {x: feed, is_training: flag}) for flag in (False, True)}
        v1.enable_control_flow_v2()
    return prefix + ".meta", feed, refs


def tf1_unconvertible_conds(folder):
    """Frozen TF1 GraphDefs whose Switch/Merge is no tf.cond on one run-time predicate: a Merge
    joining Switches on two different placeholders, and a Switch output used with no Merge."""
    paths = {}
    for kind in ("two_predicates", "no_merge"):
        g = tf.Graph()
        with g.as_default():
            x = tf.compat.v1.placeholder(tf.float32, [2, 3], name="x")
            p = tf.compat.v1.placeholder(tf.bool, [], name="p")
            q = tf.compat.v1.placeholder(tf.bool, [], name="q")
            if kind == "two_predicates":
                a = tf.raw_ops.Switch(data=x, pred=p, name="switch_p")
                b = tf.raw_ops.Switch(data=x, pred=q, name="switch_q")
                tf.identity(tf.raw_ops.Merge(inputs=[a.output_false * 2.0, b.output_true + 1.0], name="joined").output, name="y")
            else:
                a = tf.raw_ops.Switch(data=x, pred=p, name="switch_p")
                tf.identity(a.output_true * 2.0, name="y")
        tf.io.write_graph(g.as_graph_def(), folder, kind + ".pb", as_text=False)
        paths[kind] = os.path.join(folder, kind + ".pb")
    return paths


def recurrent_text_model(vocab=50, dim=8, units=6):
    """Embedding -> Keras LSTM and GRU (TensorLists inside a While in the SavedModel), each
    returning sequences and only the last state, one of each bidirectional; the sequence
    length is dynamic."""
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocab, dim)(ids)
    lstm_seq = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True))(x)
    lstm_last = keras.layers.LSTM(units)(lstm_seq)
    gru_seq = keras.layers.GRU(units, return_sequences=True)(x)
    gru_last = keras.layers.Bidirectional(keras.layers.GRU(units))(x)
    return keras.Model(ids, [lstm_seq, lstm_last, gru_seq, gru_last])


def tf1_saved_model_two_tag_sets(folder):
    """A TF1 SavedModel with two MetaGraphs: {"serve"} computes relu(x @ w) ("predict") and
    x @ w + 1 ("shifted"); {"serve", "gpu"} computes tanh(x @ w) ("predict"). Returns x and
    the three references."""
    rng = np.random.default_rng(21)
    w_value = rng.normal(size=(4, 3)).astype(np.float32)
    feed = rng.normal(size=(2, 4)).astype(np.float32)
    refs = {}
    builder = tf.compat.v1.saved_model.Builder(folder)
    sig = tf.compat.v1.saved_model.predict_signature_def
    for tags, act in ((["serve"], tf.nn.relu), (["serve", "gpu"], tf.nn.tanh)):
        g = tf.Graph()
        with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
            x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
            w = tf.compat.v1.Variable(w_value, name="w")
            y = act(tf.matmul(x, w), name="y")
            shifted = tf.add(tf.matmul(x, w), 1.0, name="shifted")
            sess.run(tf.compat.v1.global_variables_initializer())
            sigs = {"predict": sig({"x": x}, {"y": y})}
            if tags == ["serve"]:
                sigs["shifted"] = sig({"x": x}, {"s": shifted})
                refs["shifted"] = sess.run(shifted, {x: feed})
                builder.add_meta_graph_and_variables(sess, tags, signature_def_map=sigs)
            else:
                builder.add_meta_graph(tags, signature_def_map=sigs)
            refs[",".join(tags)] = sess.run(y, {x: feed})
    builder.save()
    return feed, refs


def tf1_while_graph(folder, partitioned=True):
    """A TF1 graph with control flow v1 (tf.compat.v1.while_loop: Enter / Merge / Switch /
    LoopCond / NextIteration / Exit) whose body reads a variable, and a variable split by
    fixed_size_partitioner (the checkpoint holds its slices); saved as .meta + checkpoint."""
    g = tf.Graph()
    rng = np.random.default_rng(31)
    with g.as_default():
        tf.compat.v1.disable_control_flow_v2()
        x = tf.compat.v1.placeholder(tf.float32, [2, 4], name="x")
        steps = tf.compat.v1.placeholder(tf.int32, [], name="steps")
        w = tf.compat.v1.Variable(rng.normal(0, 0.4, (4, 4)).astype(np.float32), name="w")
        init = tf.compat.v1.random_normal_initializer(0.0, 0.5, seed=7)
        partitioner = tf.compat.v1.fixed_size_partitioner(3) if partitioned else None
        pw = tf.compat.v1.get_variable("pw", shape=(10, 3), initializer=init, partitioner=partitioner)

        def body(i, z, acc):
            z = tf.tanh(tf.matmul(z, w) + tf.cast(i, tf.float32) * 0.1)
            return i + 1, z, acc + tf.reduce_sum(z)

        _, z, acc = tf.compat.v1.while_loop(lambda i, z, acc: i < steps, body, (tf.constant(0), x, tf.constant(0.0)))
        head = tf.matmul(tf.concat([z, z[:, :3] * 2.0, z[:, :3]], axis=1), pw)
        out = tf.add(head, acc, name="out")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(sess, os.path.join(folder, "model.ckpt"))
            feed = rng.normal(size=(2, 4)).astype(np.float32)
            refs = {n: sess.run(out, {x: feed, steps: n}) for n in (0, 3)}
        tf.compat.v1.enable_control_flow_v2()
    return prefix + ".meta", feed, refs
