-- wrk -s bench/serve/v2_infer.lua -c16 -t2 -d10s http://127.0.0.1:8765/v2/models/lr/infer
-- Open Inference v2 REST, 1 row of 20 FP64 features, output "predict" (v2_infer_1row.json).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs":[{"name":"input","shape":[1,20],"datatype":"FP64","data":[-0.550032,0.027674,-1.181484,-1.285852,-0.357036,-0.399059,0.405741,-0.487514,1.446545,0.538832,-0.28158,0.476326,0.003765,0.295473,-0.765907,-0.524596,0.826516,-1.048598,0.28167,1.756026]}],"outputs":[{"name":"predict"}]}'
