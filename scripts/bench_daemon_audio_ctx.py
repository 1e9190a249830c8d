"""Daemon accuracy and speed with and without the fitted whisper audio_ctx, on the English
tts and real-speech clips of the corpus: pooled WER (lower-cased, punctuation dropped) and the
median inference time. Usage: python3 scripts/bench_daemon_audio_ctx.py [NIGHTSHIFT_BINARY]"""
import json, subprocess, sys, time, re, os
repo=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus=os.path.join(os.path.dirname(repo),'shared','corpus')
binary=sys.argv[1] if len(sys.argv)>1 else os.path.expanduser('~/.cache/nightshift-target/release/nightshift')
m=json.load(open(corpus+'/manifest.json'))
cases=[c for c in m['cases'] if c.get('kind') in ('tts','real_speech') and c['path'].endswith(('.wav','.flac')) and c['expected'].get('language','en')=='en' and 'ami' not in c['id']]
def norm(t): return re.sub(r"[^a-z0-9' ]"," ",t.lower()).split()
def wer(r,h):
    d=list(range(len(h)+1))
    for i in range(1,len(r)+1):
        p=d[:]; d[0]=i
        for j in range(1,len(h)+1):
            d[j]=min(p[j]+1,d[j-1]+1,p[j-1]+(r[i-1]!=h[j-1]))
    return d[len(h)], len(r)
def run(flag):
    home='/tmp/nightshift-actx-'+('on' if flag else 'off')
    subprocess.run(['rm','-rf',home]); os.makedirs(home)
    env=dict(os.environ, NIGHTSHIFT_MODELS=os.path.join(os.path.dirname(repo),'shared','models'))
    cmd=[binary,'--home',home,'serve']+([] if flag else ['--full-audio-ctx'])
    p=subprocess.Popen(cmd,env=env,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    while not os.path.exists(home+'/run/daemon.json'): time.sleep(0.05)
    addr=json.load(open(home+'/run/daemon.json'))['addr']
    E=N=0; inf=[]
    for c in cases:
        ref=c['expected'].get('reference_transcript') or c['expected'].get('transcript') or ''
        out=subprocess.run(['curl','-s','-F','response_format=verbose_json','-F','file=@'+corpus+'/'+c['path'],f'http://{addr}/v1/audio/transcriptions'],capture_output=True,text=True).stdout
        d=json.loads(out); e,n=wer(norm(ref),norm(d['text'])); E+=e; N+=n; inf.append(d['timings']['inference_s'])
    p.terminate(); p.wait()
    inf.sort()
    print('fit' if flag else 'full', 'clips',len(cases),'WER %.3f'%(E/max(N,1)), 'median inference %.3f s'%inf[len(inf)//2])
run(False); run(True)
