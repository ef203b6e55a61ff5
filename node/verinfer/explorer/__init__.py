"""The verification explorer: a web page that shows a deployment's requests, models and nodes, and checks any result
in the reader's own browser.

    verinfer explorer --rpc-url http://127.0.0.1:8545      # the devnet's deployment by default

`index` follows the chain (the three contracts' logs, decoded with the packaged ABIs) into JSON views; `app` is the
Starlette application (the JSON API under `/api`, the static page and onnxruntime-web's WASM); `server` runs it with
uvicorn. The server is a convenience: the page's check reads the chain through the RPC itself and trusts the model
bytes only after their keccak256 equals the model id, so nothing in that path depends on this server being honest.
"""
