"""The ops layer: what a person can see and do, shared by the CLI and the web console.

``queries`` reads (overview, problems, records, settlements, runs, SKUs), ``actions`` changes
(retry, resolve, fix and retry, pause, run now, ping), each action an audit event naming the user.
The CLI and the console are two faces of these functions; neither holds logic of its own.
"""
