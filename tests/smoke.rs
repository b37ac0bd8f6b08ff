use ndarray::{array, Array2};
use staticflow::prelude::*;

#[test]
fn toy_two_task_isolation_with_gd() {
    let g = Graph::with_seed(1);
    let x = g.placeholder("x", [None, Some(3)]);
    let y1 = g.placeholder("y1", [None, Some(1)]);
    let y2 = g.placeholder("y2", [None, Some(1)]);
    let ws = g.variable("shared/w", init::glorot_uniform(&[3, 4]));
    let w1 = g.variable("task1/w", init::glorot_uniform(&[4, 1]));
    let w2 = g.variable("task2/w", init::glorot_uniform(&[4, 1]));
    let shared = relu(matmul(x, ws));
    let loss1 = l2_loss(y1 - relu(matmul(shared, w1)));
    let loss2 = l2_loss(y2 - relu(matmul(shared, w2)));
    let op1 = GradientDescent::new(0.01).minimize(loss1).unwrap();
    let mut sess = Session::new(&g);
    sess.run(&[g.global_variables_initializer().into()], &[])
        .unwrap();
    let xs: Array2<f32> = array![[1., 2., 3.], [0.5, -1., 2.]];
    let ys: Array2<f32> = array![[1.], [2.]];
    let w2_before = sess.variable_value(w2).unwrap().clone();
    let ws_before = sess.variable_value(ws).unwrap().clone();
    let a = sess
        .run(
            &[op1.into(), loss1.into()],
            &[(x, (&xs).into()), (y1, (&ys).into())],
        )
        .unwrap();
    let b = sess
        .run(
            &[op1.into(), loss1.into()],
            &[(y1, (&ys).into()), (x, (&xs).into())],
        )
        .unwrap();
    assert!(b.scalar(1).unwrap() < a.scalar(1).unwrap(), "{a:?} {b:?}");
    assert_eq!(sess.variable_value(w2).unwrap(), &w2_before);
    assert_ne!(sess.variable_value(ws).unwrap(), &ws_before);
    assert_eq!(
        sess.num_plans(),
        2,
        "init plan + one plan for op1 whatever the feed order"
    );
    let err = sess.run(&[loss2.into()], &[(x, (&xs).into())]).unwrap_err();
    assert!(err.to_string().contains("y2"), "{err}");
}

#[test]
fn initializer_nodes_sit_under_their_variable_once() {
    let g = Graph::new();
    let _s = g.name_scope("Adam");
    let v = g.variable("shared/w/m", init::zeros(&[2]));
    assert_eq!(v.name(), "Adam/shared/w/m");
    assert!(g.tensor_by_name("Adam/shared/w/m/initial_value").is_some());
    assert!(g
        .tensor_by_name("Adam/Adam/shared/w/m/initial_value")
        .is_none());
}
