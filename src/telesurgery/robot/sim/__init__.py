"""The simulated dVRK-class patient cart in MuJoCo (the default robot driver, ``"sim"``).

Public API::

    from telesurgery.robot.registry import make_robot, robot_config
    cart = make_robot(robot_config("sim"))          # a SimCart (SimCartConfig defaults)
    cart.connect()                                   # 1 kHz servo thread + endoscope camera thread
    psm = cart.arm("PSM1"); psm.enable(); psm.home() # CRTK: servo_cp, move_cp, hold, jaw.servo_jp
    cart.add_tick_callback(fn)                       # fn(now_s) once per servo tick, in its thread
    cart.camera.subscribe(fn) / cart.camera.latest() # Frame: pixels, frame_number, capture times
    cart.servo_stats(), cart.camera_stats()
    cart.disconnect()

Modules: ``config`` (SimCartConfig, registered), ``cart`` (SimCart), ``arm`` (SimArm, SimJaw),
``layout`` (where the arms stand), ``mjcf`` (the model generated from the DH tables),
``peg_board``, ``peg_transfer`` (scripted waypoints), ``servo_loop``, ``camera``, ``trajectory``
(Ruckig), ``stats``, ``priority`` (SCHED_FIFO).
"""
