from flask import Flask, request
app = Flask(__name__)

@app.route("/a")
def a():
    return "a\n"

@app.route("/b/<int:i>", methods=["GET", "POST"])
def b(i):
    return "b %d %d\n" % (i, len(request.get_data()))

@app.route("/c")
def c():
    return "c\n", 503

@app.route("/hang")
def hang():
    import time
    time.sleep(120)
    return "late\n"
